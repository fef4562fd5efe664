// Live password-rule checklist (progressive enhancement: the page works without it and the
// directory still decides). Reads the rules from data-* attributes of the list, ticks each rule as
// the person types, and states it in words for screen readers (the list is aria-live="polite").
(() => {
  const list = document.querySelector('[data-policy-checklist]');
  const input = document.querySelector('[data-policy-input]');
  if (!list || !input) return;
  const confirm = document.querySelector('[data-policy-confirm]');
  const metText = list.getAttribute('data-met-text') || 'met';
  const unmetText = list.getAttribute('data-unmet-text') || 'not met yet';
  const minLength = Number(list.getAttribute('data-min-length') || '0');
  const maxLength = Number(list.getAttribute('data-max-length') || '0');
  const names = (list.getAttribute('data-names') || '')
    .split('\n')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length >= 3);

  const categories = (pw) => {
    let n = 0;
    if (/\p{Lu}/u.test(pw)) n++;
    if (/\p{Ll}/u.test(pw)) n++;
    if (/\p{Nd}/u.test(pw)) n++;
    if (/[^\p{L}\p{Nd}]/u.test(pw)) n++;
    return n;
  };
  const length = (pw) => [...pw].length;
  const rules = {
    minLength: (pw) => length(pw) >= minLength,
    maxLength: (pw) => maxLength === 0 || length(pw) <= maxLength,
    complexity: (pw) => categories(pw) >= 3,
    noName: (pw) => pw.length > 0 && !names.some((n) => pw.toLowerCase().includes(n)),
    match: (pw) => !!confirm && pw.length > 0 && confirm.value === pw,
  };

  const update = () => {
    const pw = input.value;
    for (const li of list.querySelectorAll('li[data-rule]')) {
      const check = rules[li.getAttribute('data-rule')];
      if (!check) continue;
      const ok = check(pw);
      li.classList.toggle('met', ok);
      li.setAttribute('data-met', ok ? 'true' : 'false');
      const state = li.querySelector('.state');
      if (state) state.textContent = ok ? metText : unmetText;
    }
  };
  input.addEventListener('input', update);
  if (confirm) confirm.addEventListener('input', update);
  update();
})();
