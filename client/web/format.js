// How every view shows the Unicode format characters a peer may put in a text or a name: one pure function
// shared by the terminal (client/screen.ts imports this file) and the page (served beside app.js), so the
// two cannot drift apart. Format characters (category Cf: the bidi marks U+200E, U+200F and U+061C, the
// direction overrides and isolates, zero-width characters and joiners, the soft hyphen, tags…) are
// invisible, and some reorder what surrounds them ("invoice<U+202E>gpj.exe"): each is shown as an escape
// such as "<U+202E>" instead of being applied. Control characters are each view's business (the terminal
// replaces them, the page shows their pictures). Plain JavaScript with JSDoc types: the browser runs it
// as it is, and Deno type-checks it for the terminal.

const FORMAT = /\p{Cf}/gu;
const PICTOGRAPH = /^\p{Extended_Pictographic}/u;

/**
 * True if an emoji (maybe with its variation selector or skin tone) ends just before `at`.
 * @param {string} text
 * @param {number} at
 * @returns {boolean}
 */
function pictographBefore(text, at) {
  let i = at;
  const back = () => {
    if (i <= 0) return -1;
    const low = text.charCodeAt(i - 1);
    i -= low >= 0xdc00 && low <= 0xdfff && i >= 2 ? 2 : 1;
    return /** @type {number} */ (text.codePointAt(i));
  };
  let cp = back();
  if (cp === 0xfe0f || (cp >= 0x1f3fb && cp <= 0x1f3ff)) cp = back();
  return cp >= 0 && PICTOGRAPH.test(String.fromCodePoint(cp));
}

/**
 * "<U+200F>": how a format character is shown.
 * @param {string} ch
 * @returns {string}
 */
export function escapeFormat(ch) {
  return `<U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}>`;
}

/**
 * The text with every format character shown as an escape ("<U+202E>"). The one kept is a zero-width
 * joiner between two emoji, which is how an emoji sequence (👩‍💻) is drawn.
 * @param {string} text
 * @returns {string}
 */
export function showFormat(text) {
  return text.replace(FORMAT, (ch, at, whole) => {
    const joinsEmoji = pictographBefore(whole, at) && PICTOGRAPH.test(whole.slice(at + 1, at + 3));
    return ch === "\u200d" && joinsEmoji ? ch : escapeFormat(ch);
  });
}
