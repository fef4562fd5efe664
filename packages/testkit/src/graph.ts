/** Import graphs in layering tests: what a module reaches, following its imports. */

/** Every module reachable from `from` (itself only when it lies on a cycle). */
export function reachable(graph: ReadonlyMap<string, readonly string[]>, from: string): Set<string> {
  const seen = new Set<string>();
  const stack = [from];
  for (let m = stack.pop(); m !== undefined; m = stack.pop()) {
    for (const d of graph.get(m) ?? []) {
      if (seen.has(d)) continue;
      seen.add(d);
      stack.push(d);
    }
  }
  return seen;
}
