// Loads the MLS working group's interoperability vectors from ../shared/vectors/mls (see its SOURCE and
// test-vectors.md). A missing folder skips those tests locally; under CI=true it is a failure, not a skip
// (as tests/_wycheproof.ts does for Wycheproof).
import { hexToBytes } from "../../../crypto/bytes.ts";
import { isSuiteId, type SuiteId } from "../../../protocol/mls/suite.ts";

export const MLS_VECTORS_DIR = new URL("../../../../shared/vectors/mls/", import.meta.url);

function inCI(): boolean {
  return Deno.permissions.querySync({ name: "env", variable: "CI" }).state === "granted" &&
    Deno.env.get("CI") === "true";
}

/** The parsed file, or null when the folder is absent outside CI (callers mark their tests ignored). */
export function loadMlsVectors<T>(file: string): T[] | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(new URL(file, MLS_VECTORS_DIR));
  } catch (e) {
    if (inCI()) throw new Error(`MLS vectors are required under CI but ${file} could not be read: ${e}`);
    return null;
  }
  return JSON.parse(text) as T[];
}

/** The cases of our cipher suites (2, 5, 7), with the count of the others that were skipped. */
export function ourSuites<T extends { cipher_suite: number }>(
  all: T[],
): { cases: (T & { cipher_suite: SuiteId })[]; skipped: number } {
  const cases = all.filter((c) => isSuiteId(c.cipher_suite)) as (T & { cipher_suite: SuiteId })[];
  return { cases, skipped: all.length - cases.length };
}

export const hex = hexToBytes;
