// Preloaded (node --import) into the demo's agent. The demo holds this process's stdin (a pipe)
// open for as long as it lives; when the pipe closes, the demo is gone however it ended (even
// SIGKILL), and the agent stops as it does on SIGTERM: nothing of the demo outlives it (issue 12).
//
// Signals: the agent's own handler (installed once it runs) stops it gracefully and then removes
// itself, so a second signal (Ctrl-C reaches the whole group, then the demo's stop sends SIGTERM)
// would kill it half-way; it is ignored here. A signal before the agent runs ends it at once.
let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    if (process.listenerCount(signal) > 1)
      stopping = true; // the agent's handler runs too
    else if (!stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

// The terminal closing (SIGHUP, which the agent does not handle) stops it like SIGTERM.
process.on('SIGHUP', () => process.kill(process.pid, 'SIGTERM'));

const stdin = process.stdin;
const gone = () => process.kill(process.pid, 'SIGTERM');
stdin.on('error', gone);
stdin.once('end', gone);
stdin.once('close', gone);
stdin.resume();
// The pipe must not keep the agent alive once it has stopped.
if (typeof stdin.unref === 'function') stdin.unref();
