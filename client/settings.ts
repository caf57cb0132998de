// The user's settings (`/set NAME VALUE`), kept in the keystore as names and strings
// (protocol/keystore.ts `settings`) and given their types and limits here. A setting nobody set has its
// default; an unknown name stored by a newer client is kept as it is.

import type { KeystoreContents } from "../protocol/keystore.ts";
import { MAX_HISTORY_LINES } from "../protocol/history.ts";

/** How a new message is announced in the terminal. */
export type NotifyMode = "off" | "bell" | "osc" | "osc777";

/** Every setting, with its type. */
export interface Settings {
  /** Send read receipts (and show the peer's): off by default. */
  "read-receipts": boolean;
  /** Send typing indicators (and show the peer's): off by default. */
  "typing": boolean;
  /** Be told who asks to chat (the relay's requests inbox, /requests): off by default. */
  "requests": boolean;
  /** Terminal notifications for new messages: off, the bell, OSC 9 or OSC 777 desktop notifications. */
  "notify": NotifyMode;
  /** Most lines kept per chat (1 to 100,000; 10,000). */
  "history-lines": number;
  /** Days a line is kept (0: no limit, the default; at most 3,650). */
  "history-days": number;
}

export type SettingName = keyof Settings;

/** Most days of history-days. */
export const MAX_HISTORY_DAYS = 3650;

interface Definition<T> {
  default: T;
  /** What the user may type, for /help and errors. */
  values: string;
  parse(text: string): T | null;
  show(value: T): string;
}

const onOff: Definition<boolean> = {
  default: false,
  values: "on|off",
  parse: (t) => (t === "on" ? true : t === "off" ? false : null),
  show: (v) => (v ? "on" : "off"),
};

function count(min: number, max: number, fallback: number, zero?: string): Definition<number> {
  return {
    default: fallback,
    values: zero ? `${min}-${max}|${zero}` : `${min}-${max}`,
    parse: (t) => {
      if (zero && t === zero) return 0;
      if (!/^\d{1,7}$/.test(t)) return null;
      const n = Number(t);
      return n >= min && n <= max ? n : null;
    },
    show: (v) => (zero && v === 0 ? zero : String(v)),
  };
}

export const DEFINITIONS: { [K in SettingName]: Definition<Settings[K]> } = {
  "read-receipts": onOff,
  "typing": onOff,
  "requests": onOff,
  "notify": {
    default: "off",
    values: "off|bell|osc|osc777",
    parse: (t) => (["off", "bell", "osc", "osc777"].includes(t) ? t as NotifyMode : null),
    show: (v) => v,
  },
  "history-lines": count(1, MAX_HISTORY_LINES, 10_000),
  "history-days": count(1, MAX_HISTORY_DAYS, 0, "off"),
};

/** The names, in the order /set lists them. */
export const SETTING_NAMES = Object.keys(DEFINITIONS) as SettingName[];

export function isSettingName(name: string): name is SettingName {
  return Object.hasOwn(DEFINITIONS, name);
}

/** A setting's value (its default if unset or unreadable). */
export function getSetting<K extends SettingName>(contents: KeystoreContents, name: K): Settings[K] {
  const def = DEFINITIONS[name] as Definition<Settings[K]>;
  const raw = contents.settings.get(name);
  return raw === undefined ? def.default : def.parse(raw) ?? def.default;
}

/** A setting as shown. */
export function showSetting(contents: KeystoreContents, name: SettingName): string {
  const def = DEFINITIONS[name] as Definition<unknown>;
  return def.show(getSetting(contents, name));
}

/**
 * Sets a setting from what the user typed; returns the value as shown, or null if `text` is not one of
 * its values (DEFINITIONS[name].values says which).
 */
export function setSetting(contents: KeystoreContents, name: SettingName, text: string): string | null {
  const def = DEFINITIONS[name] as Definition<unknown>;
  const value = def.parse(text.trim().toLowerCase());
  if (value === null) return null;
  const shown = def.show(value);
  if (value === def.default) contents.settings.delete(name);
  else contents.settings.set(name, shown);
  return shown;
}
