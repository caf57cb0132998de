// Loads Wycheproof test vectors from ../shared/vectors/wycheproof (next to the project, as in CI).
// A missing folder skips the Wycheproof tests locally, but with CI=true it is a failure, not a skip.

export interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  result: "valid" | "invalid" | "acceptable";
  [field: string]: unknown;
}

export interface WycheproofGroup {
  type?: string;
  tests: WycheproofTest[];
  [field: string]: unknown;
}

export interface WycheproofFile {
  algorithm: string;
  numberOfTests: number;
  testGroups: WycheproofGroup[];
}

export const WYCHEPROOF_DIR = new URL("../../shared/vectors/wycheproof/", import.meta.url);

/**
 * The parsed file, or null when the Wycheproof folder is absent outside CI (the caller then marks its
 * tests ignored). Under CI=true a missing folder or file throws, so the suite fails.
 */
export function loadWycheproof(file: string): WycheproofFile | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(new URL(file, WYCHEPROOF_DIR));
  } catch (e) {
    if (Deno.env.get("CI") === "true") {
      throw new Error(`Wycheproof vectors are required under CI but ${file} could not be read: ${e}`);
    }
    return null;
  }
  const parsed = JSON.parse(text) as WycheproofFile;
  let count = 0;
  for (const g of parsed.testGroups) count += g.tests.length;
  if (count !== parsed.numberOfTests) {
    throw new Error(`${file}: ${count} tests found but the file says ${parsed.numberOfTests}`);
  }
  return parsed;
}
