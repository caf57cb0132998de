// What the client says about how a chat is protected: whether its session is post-quantum (PQXDH and
// ML-KEM in every ratchet step, protocol version 2) or a classical X3DH session from before, and plain
// sentences for the handshake refusals a user can meet (protocol/x3dh.ts): a peer whose client is too old
// for PQXDH, a peer away so long that its prekeys expired, an initial message made the classical way.

import { ProtocolError } from "../protocol/codec.ts";
import type { ChatRecord } from "../protocol/keystore.ts";
import { KIND_PREKEY, PROTOCOL_VERSION, PROTOCOL_VERSION_CLASSICAL } from "../protocol/message.ts";

/**
 * True if the chat's session is post-quantum (version 2). A chat without a session yet gets one only by
 * PQXDH (a client of this version neither starts nor accepts any other), so it counts as post-quantum too.
 */
export function isPostQuantum(chat: ChatRecord): boolean {
  return chat.session === null || chat.session.version === PROTOCOL_VERSION;
}

/** The sentence for an `initiate` that failed on the peer's bundle. */
export function startFailure(e: unknown, name: string): string {
  const start = `The chat with ${name} could not start`;
  if (e instanceof ProtocolError && e.code === "no-kem-prekey") {
    return `${start}: their client has no post-quantum (PQXDH) prekeys and must be updated; then close the ` +
      "chat and ask again.";
  }
  if (e instanceof ProtocolError && e.code === "stale-prekey") {
    return `${start}: their prekeys have expired because they have not been online for over 30 days; ` +
      "close the chat and ask again once they have been.";
  }
  return `${start}: ${(e as Error).message.replace(/\.$/, "")}.`;
}

/** The sentence for a message from a chat's peer that could not be read (`body` as the relay gave it). */
export function readFailure(e: unknown, name: string, body: Uint8Array): string {
  const classicalStart = body[0] === PROTOCOL_VERSION_CLASSICAL && body[1] === KIND_PREKEY;
  if (e instanceof ProtocolError && e.code === "unsupported" && classicalStart) {
    return `A message from ${name} was dropped: their client started the chat the classical way (X3DH, ` +
      "not post-quantum), which this client no longer accepts, so they must update it.";
  }
  return `A message from ${name} could not be read and was dropped (${(e as Error).message}).`;
}
