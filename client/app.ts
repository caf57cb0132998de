// The client application: opens (or creates) the keystore, keeps a link to the relay (client/connection.ts),
// runs the chats (client/chats.ts) and turns typed lines into commands (client/commands.ts). A user
// interface (client/tui.ts on a terminal, client/linemode.ts otherwise) feeds it lines and shows its
// events. `main` picks the interface, runs it, and returns the exit code; every failure reaches the user
// as one sentence, never as a stack trace.

import { formatId } from "../protocol/identity.ts";
import { KeystoreFormatError, WrongPassphraseError } from "../protocol/keystore.ts";
import type { CurveName } from "../protocol/suite.ts";
import type { Transport } from "../protocol/tls13/connection.ts";
import { type Clock, systemClock } from "./backoff.ts";
import { ChatError, runCommand } from "./actions.ts";
import { ChatClient, ONE_TIME_KEM_PREKEYS, ONE_TIME_PREKEYS } from "./chats.ts";
import { CommandError, parseLine } from "./commands.ts";
import { CONNECT_TIMEOUT_MS, Connector, FatalConnectionError } from "./connection.ts";
import { EXIT_ERROR, EXIT_OK } from "./exit.ts";
import type { ClientEvent, ConnectionState } from "./events.ts";
import { FileError, IncomingFiles } from "./files.ts";
import { HistoryFileError, HistoryStore } from "./historystore.ts";
import { getSetting } from "./settings.ts";
import { keyLogFromEnv } from "../io/keylog.ts";
import { KeystoreFile, KeystoreFileError, type PassphraseSource } from "./keystore.ts";
import { PassphraseError, PromptCancelled } from "./passphrase.ts";
import { GroupDiskError, SealedGroupDisk } from "./groupdisk.ts";
import { GroupError } from "./groups.ts";

/** The client's settings (from the command line). */
export interface AppOptions {
  host: string;
  port: number;
  curve: CurveName;
  /** --pin or an invitation's pin: the relay's key pin, required to match exactly, and stored. */
  pin?: string;
  /** Where `pin` comes from: "flag" (--pin, the default; it replaces a stored pin) or "invitation". */
  pinFrom?: "flag" | "invitation";
  dataDir: string;
  clock?: Clock;
  /** Opens the byte stream to the relay (tests); default TCP. */
  dial?: (host: string, port: number, signal?: AbortSignal) => Promise<Transport>;
  /**
   * Line mode: /quit and the end of input first let what was typed reach the relay (the first connection
   * attempt, requests, messages), for at most LINGER_MS; signals still quit at once.
   */
  lingerOnQuit?: boolean;
  /** --accept-files: files of at most this many bytes are accepted without asking (0 or absent: ask). */
  acceptFiles?: number;
  /** --files-quota: most bytes in the files folder, counting what accepted transfers will add. */
  filesQuota?: number;
  /** Bytes free for the data folder (tests in-process replace client/files.ts freeBytes: no statfs there). */
  freeBytes?(dir: string): Promise<number>;
}

/** Milliseconds a quitting client waits for the relay to store what it has just sent. */
const DRAIN_MS = 3000;
/** Milliseconds a quitting line-mode client waits at most for its link to come up and its work to be done. */
export const LINGER_MS = CONNECT_TIMEOUT_MS + DRAIN_MS;

/** Errors whose message is already the sentence to show. */
const PLAIN_ERRORS = [
  WrongPassphraseError,
  KeystoreFormatError,
  KeystoreFileError,
  PassphraseError,
  PromptCancelled,
  CommandError,
  ChatError,
  FatalConnectionError,
  FileError,
  GroupError,
  GroupDiskError,
  HistoryFileError,
];

/** One sentence for any error: the message of ours, a generic sentence for the unexpected. */
export function sentence(e: unknown): string {
  if (PLAIN_ERRORS.some((type) => e instanceof type)) return (e as Error).message;
  if (e instanceof Deno.errors.NotCapable) {
    const what = e.message.replace(/, run again with.*$/, "").replace(/^Requires/, "it needs");
    return `Deno's permissions stop the client: ${what}; add that permission (see docs/client.md).`;
  }
  const message = e instanceof Error ? e.message : String(e);
  return `Something went wrong: ${message.replace(/\.$/, "")}.`;
}

/** What a user interface drives: the chats, typed lines, and the end. */
export interface AppHandle {
  readonly client: ChatClient;
  /** Resolves with the exit code once the client must stop. */
  readonly done: Promise<number>;
  readonly status: { connection: ConnectionState; pin: string };
  /** Handles one typed line; resolves true if it was /quit. */
  line(text: string): Promise<boolean>;
  /** Asks the client to stop (exit code 0; in line mode once what was typed has gone, see `lingerOnQuit`). */
  quit(): void;
  /** Reports a mistake of the input's as an error event (a sentence). */
  error(message: string): void;
}

/**
 * Carries out one typed line on the chats; a mistake becomes an error event. Resolves "quit" for /quit.
 */
export async function handleLine(
  client: ChatClient,
  emit: (e: ClientEvent) => void,
  text: string,
): Promise<"quit" | null> {
  try {
    const cmd = parseLine(text);
    if (cmd?.name === "quit") return "quit";
    if (cmd !== null) await runCommand(client, cmd);
  } catch (e) {
    emit({ event: "error", message: sentence(e) });
  }
  return null;
}

/** A running client: keystore open, connector started. */
export class App implements AppHandle {
  readonly client: ChatClient;
  readonly options: AppOptions;
  /** Resolves with the exit code once the client must stop (after /quit, or a fatal error). */
  readonly done: Promise<number>;
  readonly #store: KeystoreFile;
  readonly #history: HistoryStore;
  readonly #files: IncomingFiles;
  readonly #connector: Connector;
  readonly #emit: (e: ClientEvent) => void;
  #resolveDone: (code: number) => void = () => {};
  #quitCode: number | null = null;
  #fatalCode: number | null = null;
  #lingering = false;
  #ready = false;
  #state: ConnectionState = "connecting";
  #pin = "";
  #stopped: Promise<void> | null = null;

  private constructor(
    options: AppOptions,
    store: KeystoreFile,
    history: HistoryStore,
    emit: (e: ClientEvent) => void,
  ) {
    this.options = options;
    this.#store = store;
    this.#history = history;
    this.#emit = emit;
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
    const clock = options.clock ?? systemClock;
    this.#files = new IncomingFiles(store.dataDir);
    // Received chunks and the history's changes are made durable before the keystore that records
    // them (and then the ack): what is acknowledged is on disk.
    store.beforeWrite = async () => {
      await this.#files.sync();
      const c = store.contents;
      await history.flush(c.chats, {
        lines: getSetting(c, "history-lines"),
        days: getSetting(c, "history-days"),
      }, clock.now());
    };
    this.client = new ChatClient({
      history,
      store,
      files: this.#files,
      autoAccept: options.acceptFiles,
      filesQuota: options.filesQuota,
      freeBytes: options.freeBytes,
      curve: options.curve,
      relay: { host: options.host, port: options.port, pin: options.pin },
      clock,
      emit,
      fatal: (e) => this.#fatal(e),
      groupDisk: new SealedGroupDisk(store.dataDir, {
        seal: (b) => store.sealFile(b),
        open: (b) => store.openFile(b),
      }),
    });
    const contents = store.contents;
    this.#connector = new Connector({
      host: options.host,
      port: options.port,
      curve: options.curve,
      identity: contents.identity,
      dataDir: store.dataDir,
      expectedPin: options.pin,
      expectedPinFrom: options.pinFrom,
      pins: {
        get: (server) => contents.pins.get(server),
        set: async (server, pin) => {
          contents.pins.set(server, pin);
          await store.save();
        },
      },
      clock,
      keyLog: keyLogFromEnv(),
      dial: options.dial,
    }, {
      state: (state, detail) => {
        this.#state = state;
        if (state === "offline" || (state === "connecting" && this.#ready)) {
          this.#emit({ event: "connection", state, ...detail });
        }
      },
      online: async (link) => {
        this.#pin = link.pin;
        await this.client.attach(link);
        this.#state = "online";
        if (this.#ready) return this.#emit({ event: "connection", state: "online" });
        this.#ready = true;
        this.#emit({
          event: "ready",
          id: formatId(contents.identity.id),
          server: `${options.host}:${options.port}`,
          pin: link.pin,
          trust: link.trust,
          curve: options.curve,
          tls: link.group,
        });
      },
      frame: (f) => this.client.frame(f),
      offline: () => {
        this.#state = "offline";
        this.client.detach();
      },
      fatal: (e) => this.#fatal(e),
    });
  }

  /**
   * Opens the keystore (asking for the passphrase; creating an identity on first run, announced through
   * `onNewIdentity`) and starts connecting. Throws the errors `sentence` turns into one sentence.
   */
  static async start(
    options: AppOptions,
    emit: (e: ClientEvent) => void,
    passphrase: PassphraseSource,
    onNewIdentity: (id: string) => void,
  ): Promise<App> {
    const clock = options.clock ?? systemClock;
    const { store } = await KeystoreFile.open({
      dataDir: options.dataDir,
      passphrase,
      now: clock.now(),
      oneTimePrekeys: ONE_TIME_PREKEYS,
      oneTimeKemPrekeys: ONE_TIME_KEM_PREKEYS,
      onNewIdentity: (id) => onNewIdentity(formatId(id)),
    });
    let history: HistoryStore;
    try {
      const opened = await HistoryStore.open({
        dataDir: options.dataDir,
        secret: store.historySecret(),
        chats: store.contents.chats,
      });
      history = opened.store;
      for (const message of opened.problems) emit({ event: "error", message });
    } catch (e) {
      await store.close();
      throw e;
    }
    const app = new App(options, store, history, emit);
    // A keystore of version 2 held history lines: they are in their file after this write, and the
    // keystore no longer has them.
    app.client.save();
    app.#connector.start();
    return app;
  }

  /** How the connection stands, and the relay's pin once known. */
  get status(): { connection: ConnectionState; pin: string } {
    return { connection: this.#state, pin: this.#pin };
  }

  /** Reports a mistake of the input's as an error event. */
  error(message: string): void {
    this.#emit({ event: "error", message });
  }

  /** Handles one typed line; errors become error events. Resolves true if the line was /quit. */
  async line(text: string): Promise<boolean> {
    if ((await handleLine(this.client, this.#emit, text)) !== "quit") return false;
    this.quit();
    return true;
  }

  /**
   * Asks the client to stop with exit code 0 (/quit, Ctrl-C, Ctrl-D, end of input). With `lingerOnQuit`
   * it first waits, at most LINGER_MS, while the first connection attempt is under way or requests and
   * messages are still on their way to the relay, so `printf '/chat ID\nhi\n' | client` does what it says
   * and a refusal (a wrong pin) still decides the exit code.
   */
  quit(): void {
    if (!this.options.lingerOnQuit) return this.quitNow();
    if (this.#lingering) return;
    this.#lingering = true;
    this.#linger().then(() => this.quitNow());
  }

  /** Stops with exit code 0 without waiting for anything (a signal). */
  quitNow(): void {
    this.#finish(EXIT_OK);
  }

  /** The exit code: a fatal error's (even one that came while quitting), else the quit's. */
  get exitCode(): number {
    return this.#fatalCode ?? this.#quitCode ?? EXIT_OK;
  }

  async #linger(): Promise<void> {
    const clock = this.options.clock ?? systemClock;
    const until = clock.now() + LINGER_MS;
    const working = () =>
      (this.#state === "connecting" && !this.#ready) ||
      (this.#state === "online" && (this.client.busy || this.client.outbox.busy));
    while (this.#quitCode === null && clock.now() < until && working()) await clock.sleep(20);
  }

  #finish(code: number): void {
    if (this.#quitCode !== null) return;
    this.#quitCode = code;
    this.#resolveDone(code);
  }

  #fatal(e: Error): void {
    this.#fatalCode ??= e instanceof FatalConnectionError ? e.exitCode : EXIT_ERROR;
    this.#emit({ event: "error", message: sentence(e) });
    this.#finish(this.#fatalCode);
  }

  /** Stops everything: the link, transfers (peers are told), the last keystore write. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      await this.client.transfers.stop();
      await this.client.outbox.drain(DRAIN_MS, () => this.#state === "connecting");
      await this.#connector.stop();
      await this.client.shutdown();
      this.#files.closeAll();
      await this.#store.close();
      await this.#history.close();
    })();
    return this.#stopped;
  }
}
