// `client.ts HOST --send ID|NICK TEXT`: one message for a script. Once the keystore is open it waits for
// the link to the relay, finds the chat (an ID or a nickname, as /msg does; a chat the relay has opened
// while we were away is waited for), queues the text exactly as typing it would, and waits until the
// relay says it stored it (Queued) or refused it. The exit code says which (client/exit.ts); the events
// on the way are printed as in line mode. Waiting for the end-to-end receipt instead would tie a script
// to the peer being online; the relay's Queued is the promise that the message will reach them.

import { equalBytes } from "../crypto/bytes.ts";
import { formatId } from "../protocol/identity.ts";
import type { ChatRecord } from "../protocol/keystore.ts";
import { ChatError, find, sendText } from "./actions.ts";
import type { AppHandle } from "./app.ts";
import type { Clock } from "./backoff.ts";
import type { ClientEvent } from "./events.ts";
import { EXIT_NO_CHAT, EXIT_NOT_CONFIRMED, EXIT_OK, EXIT_REFUSED } from "./exit.ts";
import { chatName } from "./history.ts";

/** What to send, and how long to wait for the relay's answer. */
export interface SendOnce {
  /** An ID (any written form) or a nickname, as /msg takes it. */
  target: string;
  text: string;
  timeoutSeconds: number;
}

/** How often the state is looked at while waiting (milliseconds). */
const POLL_MS = 20;

/**
 * Sends one text and resolves with the exit code: 0 once the relay has stored it, EXIT_NO_CHAT,
 * EXIT_REFUSED, EXIT_NOT_CONFIRMED, or the code of a fatal error (a wrong pin, a refused login) or of a
 * quit. Each ending but success is said in one sentence (an error event).
 */
export async function sendOnce(
  app: AppHandle & { readonly exitCode: number },
  o: SendOnce,
  clock: Clock,
  emit: (e: ClientEvent) => void,
): Promise<number> {
  let finished = false;
  app.done.then(() => (finished = true));
  const deadline = clock.now() + o.timeoutSeconds * 1000;
  const wait = async (until: () => boolean): Promise<"yes" | "finished" | "late"> => {
    for (;;) {
      if (finished) return "finished";
      if (until()) return "yes";
      if (clock.now() >= deadline) return "late";
      await clock.sleep(POLL_MS);
    }
  };
  const fail = (code: number, message: string, chat?: ChatRecord): number => {
    emit(chat ? { event: "error", chat: formatId(chat.peerId), message } : { event: "error", message });
    return code;
  };
  const stopped = () => (app.exitCode !== EXIT_OK ? app.exitCode : EXIT_NOT_CONFIRMED);
  const client = app.client;
  const late = `The relay did not confirm the message within ${o.timeoutSeconds} s`;

  const online = await wait(() => client.link !== null);
  if (online === "finished") return stopped();
  if (online === "late") {
    return fail(
      EXIT_NOT_CONFIRMED,
      `The relay was not reached within ${o.timeoutSeconds} s; nothing was sent.`,
    );
  }
  let chat: ChatRecord;
  try {
    chat = await client.run(() => find(client, o.target));
  } catch (e) {
    if (e instanceof ChatError) return fail(EXIT_NO_CHAT, e.message);
    throw e;
  }
  if (chat.state === "requested") {
    // Opened at the relay while we were away: its ChatOpened follows the Welcome.
    const openAtRelay = client.link?.welcome.chats.some((c) => equalBytes(c.peerId, chat.peerId));
    if (!openAtRelay) {
      return fail(
        EXIT_NO_CHAT,
        `The chat with ${chatName(chat)} is not open: they have not asked for you yet.`,
        chat,
      );
    }
    const opened = await wait(() => chat.state !== "requested");
    if (opened === "finished") return stopped();
    if (opened === "late") return fail(EXIT_NOT_CONFIRMED, `${late}; nothing was sent.`, chat);
  }
  if (chat.state !== "open") return fail(EXIT_NO_CHAT, `The chat with ${chatName(chat)} is closed.`, chat);
  let id: number;
  try {
    id = await client.run(() => sendText(client, o.text, chat));
  } catch (e) {
    if (e instanceof ChatError) return fail(EXIT_REFUSED, e.message, chat);
    throw e;
  }
  const line = () => chat.history.findLast((h) => h.kind === "out" && h.textId === id);
  const answered = await wait(() => line()?.status !== "pending");
  if (answered === "finished") return stopped();
  if (answered === "late") {
    return fail(EXIT_NOT_CONFIRMED, `${late}; it waits in your keystore and leaves with the next run.`, chat);
  }
  // A refusal was reported (a "refused" event) when the line was marked.
  if (line()?.status === "failed") return EXIT_REFUSED;
  emit({ event: "info", text: `Sent to ${chatName(chat)}: the relay has stored it.` });
  return EXIT_OK;
}
