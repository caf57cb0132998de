// Web UI figures, run by hand: deno run -A bench/web_load.ts
// The real page (client/web/, served by client/webserver.ts) in headless Chromium, with a stand-in backend
// whose snapshot holds one chat of N messages (plus 20 small chats), so the page's own cost is measured:
// 1. Load: a navigation to "/" (cookie already set) until the page has drawn the snapshot (its
//    "sotto-ready" mark), median of 15, against a navigation to a one-line page of the same server
//    (the baseline: what loopback, HTTP and Chromium cost anyway), side by side in one run.
// 2. Scrolling: 240 animation frames scrolling up through the chat, 200 px a frame (about 1,000 messages,
//    so new rows are drawn in every frame); the frame interval (median, 95th percentile, worst),
//    Chromium's script + layout + style time per frame, and the most rows in the document; for
//    N = 10,000 against N = 1,500 (the baseline: the same scrolling over a chat 7 times shorter).
import { WebServer } from "../client/webserver.ts";
import { Browser, type Tab } from "../tests/client/web/_cdp.ts";
import { snapshot } from "../tests/client/web/_state.ts";

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], p: number) =>
  xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

async function measure(tab: Tab, n: number) {
  const server = new WebServer({
    port: 0,
    maxUpload: 1,
    backend: {
      hello: () => [snapshot(n)],
      request: () => Promise.resolve(null),
      upload: () => Promise.reject(new Error("no")),
      download: () => null,
    },
  });
  try {
    const base = `http://127.0.0.1:${server.port}`;
    await tab.navigate(server.url);
    const loads: number[] = [], blanks: number[] = [];
    for (let i = 0; i < 15; i++) {
      await tab.navigate(`${base}/nothing`);
      blanks.push(await tab.eval<number>(`performance.getEntriesByType("navigation")[0].loadEventEnd`));
      await tab.navigate(`${base}/`);
      loads.push(
        await tab.waitFor<number>(`performance.getEntriesByName("sotto-ready")[0]?.startTime`, "ready"),
      );
    }
    await tab.waitFor(`document.querySelectorAll("#messages .vrow").length > 0`, "rows");
    await tab.session.send("Performance.enable");
    const metric = async () => {
      const { metrics } = await tab.session.send("Performance.getMetrics") as {
        metrics: { name: string; value: number }[];
      };
      const get = (name: string) => metrics.find((m) => m.name === name)?.value ?? 0;
      return get("ScriptDuration") + get("LayoutDuration") + get("RecalcStyleDuration");
    };
    const before = await metric();
    const frames = await tab.eval<{ intervals: number[]; rows: number[] }>(`new Promise((resolve) => {
      const list = document.getElementById("messages");
      const intervals = [], rows = [];
      let last = performance.now(), count = 0;
      const frame = (now) => {
        intervals.push(now - last);
        last = now;
        rows.push(document.querySelectorAll("#messages .vrow").length);
        list.scrollTop = Math.max(0, list.scrollTop - 200);
        if (++count < 240) requestAnimationFrame(frame);
        else resolve({ intervals: intervals.slice(1), rows });
      };
      requestAnimationFrame(frame);
    })`);
    const work = (await metric()) - before;
    return {
      n,
      load: median(loads),
      blank: median(blanks),
      frameMedian: median(frames.intervals),
      frame95: pct(frames.intervals, 0.95),
      frameMax: Math.max(...frames.intervals),
      workPerFrame: (work * 1000) / 240,
      rows: Math.max(...frames.rows),
    };
  } finally {
    await server.stop();
  }
}

const downloads = await Deno.makeTempDir();
const browser = await Browser.start(downloads);
try {
  const tab = await browser.tab();
  await tab.view(1280, 800);
  console.log(
    `uptime: ${
      (await new Deno.Command("uptime").output().then((o) => new TextDecoder().decode(o.stdout))).trim()
    }`,
  );
  const results = [];
  for (const n of [1_500, 10_000, 1_500, 10_000]) results.push(await measure(tab, n));
  for (const r of results) {
    console.log(
      `N=${String(r.n).padStart(6)}  load ${r.load.toFixed(1)} ms (blank page ${
        r.blank.toFixed(1)
      } ms, ratio ${(r.load / r.blank).toFixed(1)})  frame median ${r.frameMedian.toFixed(1)} ms, p95 ${
        r.frame95.toFixed(1)
      }, max ${r.frameMax.toFixed(1)}` +
        `  work/frame ${r.workPerFrame.toFixed(2)} ms  rows in DOM ≤ ${r.rows}`,
    );
  }
} finally {
  await browser.close();
  await Deno.remove(downloads, { recursive: true });
}
