// Headless Chromium driven over the DevTools protocol with Deno's own WebSocket (no package): one browser
// per test run, a tab per page, commands as {id, method, params} and events collected per tab. Used by
// the web UI's tests and by bench/web_load.ts; every process and socket it opens it also closes.

import { requirePeer } from "../../_peers.ts";

type Json = Record<string, unknown>;

/** One DevTools connection (the browser's or a tab's). */
class Session {
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, { resolve: (v: Json) => void; reject: (e: Error) => void }>();
  readonly #listeners = new Set<(method: string, params: Json) => void>();
  #next = 1;
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;

  constructor(url: string) {
    this.#ws = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.#ws.onopen = () => resolve();
      this.#ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
    });
    this.closed = new Promise((resolve) => (this.#ws.onclose = () => resolve()));
    this.#ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (typeof m.id === "number") {
        const p = this.#pending.get(m.id);
        this.#pending.delete(m.id);
        if (m.error) p?.reject(new Error(`${m.error.message} ${m.error.data ?? ""}`.trim()));
        else p?.resolve(m.result ?? {});
      } else if (typeof m.method === "string") {
        for (const listen of this.#listeners) listen(m.method, m.params ?? {});
      }
    };
  }

  send(method: string, params: Json = {}): Promise<Json> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  on(listen: (method: string, params: Json) => void): () => void {
    this.#listeners.add(listen);
    return () => this.#listeners.delete(listen);
  }

  async close(): Promise<void> {
    for (const p of this.#pending.values()) p.reject(new Error("the session closed"));
    this.#pending.clear();
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.close();
    }
    await this.closed;
  }
}

/** A tab: a page to drive. */
export class Tab {
  readonly id: string;
  readonly session: Session;
  /** Dialogs the page opened (alert, confirm, prompt): none should ever open. */
  readonly dialogs: string[] = [];
  /** Console errors and uncaught exceptions. */
  readonly errors: string[] = [];

  constructor(id: string, session: Session) {
    this.id = id;
    this.session = session;
    session.on((method, params) => {
      if (method === "Page.javascriptDialogOpening") {
        this.dialogs.push(String(params.message));
        this.session.send("Page.handleJavaScriptDialog", { accept: false }).catch(() => {});
      } else if (method === "Runtime.exceptionThrown") {
        const d = params.exceptionDetails as Json;
        this.errors.push(String((d.exception as Json | undefined)?.description ?? d.text));
      } else if (method === "Runtime.consoleAPICalled" && params.type === "error") {
        this.errors.push((params.args as Json[]).map((a) => String(a.value ?? a.description)).join(" "));
      } else if (method === "Log.entryAdded") {
        const entry = params.entry as Json;
        if (entry.level === "error") this.errors.push(`${entry.source}: ${entry.text}`);
      }
    });
  }

  /** Evaluates an expression in the page (promises awaited) and returns its value. */
  async eval<T = unknown>(expression: string): Promise<T> {
    const r = await this.session.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
      userGesture: true,
    });
    if (r.exceptionDetails) {
      const d = r.exceptionDetails as Json;
      throw new Error(`in the page: ${(d.exception as Json | undefined)?.description ?? d.text}`);
    }
    return (r.result as Json).value as T;
  }

  /** Waits until the expression is truthy; returns its value. */
  async waitFor<T = unknown>(expression: string, what: string, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        last = await this.eval(expression);
        if (last) return last as T;
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async navigate(url: string): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let off = () => {};
    const loaded = new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${url} did not load`)), 30_000);
      off = this.session.on((method) => method === "Page.loadEventFired" && resolve());
    });
    try {
      await this.session.send("Page.navigate", { url });
      await loaded;
    } finally {
      clearTimeout(timer);
      off();
    }
  }

  /** Clicks the centre of the element matching `selector` with real mouse events. */
  async click(selector: string): Promise<void> {
    const box = await this.eval<{ x: number; y: number } | null>(`(() => {
      const el = document.querySelector(${JSON.stringify(selector)});
      if (!el) return null;
      el.scrollIntoView({ block: "nearest" });
      const r = el.getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
    })()`);
    if (!box) throw new Error(`no element ${selector}`);
    for (const type of ["mousePressed", "mouseReleased"]) {
      await this.session.send("Input.dispatchMouseEvent", {
        type,
        x: box.x,
        y: box.y,
        button: "left",
        clickCount: 1,
      });
    }
  }

  /** Presses a key (with modifiers: 1 Alt, 2 Ctrl, 4 Meta, 8 Shift). */
  async key(key: string, modifiers = 0): Promise<void> {
    const codes: Record<string, [string, number, string?]> = {
      Enter: ["Enter", 13, "\r"],
      Tab: ["Tab", 9],
      Escape: ["Escape", 27],
      ArrowUp: ["ArrowUp", 38],
      ArrowDown: ["ArrowDown", 40],
      k: ["KeyK", 75, "k"],
    };
    const [code, keyCode, text] = codes[key] ?? [key, 0];
    const base = { key, code, windowsVirtualKeyCode: keyCode, nativeVirtualKeyCode: keyCode, modifiers };
    await this.session.send("Input.dispatchKeyEvent", {
      type: text && modifiers === 0 ? "keyDown" : "rawKeyDown",
      ...base,
      ...(text && modifiers === 0 ? { text, unmodifiedText: text } : {}),
    });
    await this.session.send("Input.dispatchKeyEvent", { type: "keyUp", ...base });
  }

  /** Types text as the keyboard would (into the focused element). */
  async type(text: string): Promise<void> {
    await this.session.send("Input.insertText", { text });
  }

  /** Sets the viewport (0 × 0: the window's) and the colour scheme. */
  async view(width: number, height: number, scheme: "light" | "dark" = "light"): Promise<void> {
    await this.session.send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: width < 500,
    });
    await this.session.send("Emulation.setEmulatedMedia", {
      features: [{ name: "prefers-color-scheme", value: scheme }],
    });
  }

  /** A PNG of the viewport. */
  async screenshot(path: string): Promise<void> {
    await this.eval("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))");
    const r = await this.session.send("Page.captureScreenshot", { format: "png" });
    await Deno.writeFile(path, Uint8Array.from(atob(r.data as string), (c) => c.charCodeAt(0)));
  }
}

/** A headless Chromium. */
export class Browser {
  readonly #child: Deno.ChildProcess;
  readonly #profile: string;
  readonly #port: number;
  readonly #session: Session;
  readonly #stderr: Promise<void>;
  readonly #tabs: Tab[] = [];

  private constructor(
    child: Deno.ChildProcess,
    profile: string,
    port: number,
    session: Session,
    stderr: Promise<void>,
  ) {
    this.#child = child;
    this.#profile = profile;
    this.#port = port;
    this.#session = session;
    this.#stderr = stderr;
  }

  /** Starts Chromium headless with a fresh profile; downloads go to `downloads`. */
  static async start(downloads: string): Promise<Browser> {
    const command = requirePeer("chromium");
    const profile = await Deno.makeTempDir({ prefix: "sotto-chromium-" });
    const child = new Deno.Command(command, {
      args: [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--password-store=basic",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        `--user-data-dir=${profile}`,
        "--window-size=1280,800",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let found: (url: string) => void = () => {};
    const listening = new Promise<string>((resolve) => (found = resolve));
    const stderr = (async () => {
      let text = "";
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        text += chunk;
        const m = /DevTools listening on (ws:\/\/\S+)/.exec(text);
        if (m) found(m[1]);
        if (text.length > 1 << 16) text = text.slice(-4096);
      }
      found("");
    })();
    const url = await listening;
    if (url === "") {
      await child.status;
      await stderr;
      await Deno.remove(profile, { recursive: true });
      throw new Error("chromium did not start");
    }
    const session = new Session(url);
    await session.opened;
    await session.send("Browser.setDownloadBehavior", {
      behavior: "allow",
      downloadPath: downloads,
      eventsEnabled: true,
    });
    return new Browser(child, profile, Number(new URL(url).port), session, stderr);
  }

  /** The browser-level session (downloads). */
  get session(): Session {
    return this.#session;
  }

  /**
   * Opens a page at about:blank in a window of its own (a background tab would not draw: its animation
   * frames are paused), with its domains enabled.
   */
  async tab(): Promise<Tab> {
    const { targetId } = await this.#session.send("Target.createTarget", {
      url: "about:blank",
      newWindow: true,
    });
    const session = new Session(`ws://127.0.0.1:${this.#port}/devtools/page/${targetId}`);
    await session.opened;
    const tab = new Tab(String(targetId), session);
    await Promise.all([
      session.send("Page.enable"),
      session.send("Runtime.enable"),
      session.send("Log.enable"),
    ]);
    this.#tabs.push(tab);
    return tab;
  }

  /** Closes every tab and the browser, and removes its profile. */
  async close(): Promise<void> {
    for (const tab of this.#tabs) await tab.session.close();
    await this.#session.send("Browser.close").catch(() => {});
    await this.#session.close();
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // gone already
      }
    }, 5000);
    await this.#child.status;
    clearTimeout(timer);
    await this.#stderr;
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
  }
}
