// The web UI's files (client/web/), imported as text so they are part of the module graph: `deno run`
// needs no read permission for them and `deno compile` embeds them in the binary. Served by
// client/webserver.ts under these paths with these types.

import appJs from "./web/app.js" with { type: "text" };
import formatJs from "./web/format.js" with { type: "text" };
import icon from "./web/icon.svg" with { type: "text" };
import indexHtml from "./web/index.html" with { type: "text" };
import styleCss from "./web/style.css" with { type: "text" };
import vlistJs from "./web/vlist.js" with { type: "text" };

/** A file of the page. */
export interface Asset {
  type: string;
  body: string;
}

/** The page's files by path. */
export const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ["/index.html", { type: "text/html; charset=utf-8", body: indexHtml }],
  ["/style.css", { type: "text/css; charset=utf-8", body: styleCss }],
  ["/app.js", { type: "text/javascript; charset=utf-8", body: appJs }],
  ["/vlist.js", { type: "text/javascript; charset=utf-8", body: vlistJs }],
  ["/format.js", { type: "text/javascript; charset=utf-8", body: formatJs }],
  ["/icon.svg", { type: "image/svg+xml", body: icon }],
]);
