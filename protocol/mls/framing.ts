// Message framing (RFC 9420 §6): signing FramedContent (FramedContentTBS with SignWithLabel), the
// membership tag of PublicMessage, and PrivateMessage encryption (content under a key and nonce of the
// sender's ratchet, the nonce XORed with a random reuse guard, zero padding that the receiver checks;
// SenderData under a key and nonce derived from a sample of the content ciphertext). These functions do
// not look at the group's tree: the caller supplies keys and checks senders (group.ts).

import { equalBytes, type RandomSource } from "../../crypto/bytes.ts";
import { encodeWith, Reader, Writer } from "./codec.ts";
import { MlsError } from "./errors.ts";
import {
  type AuthenticatedContent,
  encodeFramedContentTbs,
  type FramedContent,
  type FramedContentAuthData,
  type GroupContext,
  type PrivateMessage,
  type PublicMessage,
  readAuthData,
  readContentBody,
  SenderType,
  WireFormat,
  writeAuthData,
  writeContentBody,
} from "./messages.ts";
import { type RatchetLimits, type SecretTree, senderDataKeyNonce } from "./secrettree.ts";
import type { CipherSuite } from "./suite.ts";

const SIGN_LABEL = "FramedContentTBS";

/** The signature of FramedContentAuthData for content sent with `wireFormat`. */
export function signContent(
  suite: CipherSuite,
  signatureKey: Uint8Array,
  wireFormat: number,
  content: FramedContent,
  groupContext: GroupContext | undefined,
): Uint8Array {
  return suite.signWithLabel(
    signatureKey,
    SIGN_LABEL,
    encodeFramedContentTbs(wireFormat, content, groupContext),
  );
}

/** Throws MlsError("bad-signature") unless the content's signature verifies under `publicKey`. */
export function verifyContent(
  suite: CipherSuite,
  publicKey: Uint8Array,
  ac: AuthenticatedContent,
  groupContext: GroupContext | undefined,
): void {
  const tbs = encodeFramedContentTbs(ac.wireFormat, ac.content, groupContext);
  if (!suite.verifyWithLabel(publicKey, SIGN_LABEL, tbs, ac.auth.signature)) {
    throw new MlsError("bad-signature", "the message's signature does not verify");
  }
}

/** membership_tag = MAC(membership_key, AuthenticatedContentTBM{FramedContentTBS, auth}). */
export function membershipTag(
  suite: CipherSuite,
  membershipKey: Uint8Array,
  content: FramedContent,
  auth: FramedContentAuthData,
  groupContext: GroupContext,
): Uint8Array {
  const tbs = encodeFramedContentTbs(WireFormat.PublicMessage, content, groupContext);
  const tbm = encodeWith((w) => {
    w.bytes(tbs);
    writeAuthData(w, auth, content.content.type);
  });
  return suite.mac(membershipKey, tbm);
}

/** A PublicMessage for `ac` (wire format public), with a membership tag when the sender is a member. */
export function protectPublic(
  suite: CipherSuite,
  ac: AuthenticatedContent,
  membershipKey: Uint8Array | undefined,
  groupContext: GroupContext,
): PublicMessage {
  if (ac.wireFormat !== WireFormat.PublicMessage) {
    throw new RangeError("content was signed for another wire format");
  }
  if (ac.content.content.type === 1) {
    throw new RangeError("application data is never sent as a PublicMessage");
  }
  if (ac.content.sender.type !== SenderType.Member) return { content: ac.content, auth: ac.auth };
  if (membershipKey === undefined) throw new RangeError("a member's PublicMessage needs the membership key");
  return { ...ac, membershipTag: membershipTag(suite, membershipKey, ac.content, ac.auth, groupContext) };
}

/**
 * The AuthenticatedContent of a PublicMessage after checking its membership tag (for member senders).
 * The signature is the caller's to check (it needs the sender's key). MlsError("bad-mac") on a wrong tag.
 */
export function unprotectPublic(
  suite: CipherSuite,
  m: PublicMessage,
  membershipKey: Uint8Array,
  groupContext: GroupContext,
): AuthenticatedContent {
  if (m.content.content.type === 1) {
    throw new MlsError("malformed", "application data arrived in a PublicMessage");
  }
  if (m.content.sender.type === SenderType.Member) {
    const expected = membershipTag(suite, membershipKey, m.content, m.auth, groupContext);
    if (!equalBytes(expected, m.membershipTag!)) {
      throw new MlsError("bad-mac", "the PublicMessage's membership tag does not match");
    }
  }
  return { wireFormat: WireFormat.PublicMessage, content: m.content, auth: m.auth };
}

function contentAad(
  m: { groupId: Uint8Array; epoch: bigint; contentType: number; authenticatedData: Uint8Array },
) {
  return new Writer(m.groupId.length + m.authenticatedData.length + 16).opaque(m.groupId).u64(m.epoch)
    .u8(m.contentType).opaque(m.authenticatedData).finish();
}

function senderDataAad(m: { groupId: Uint8Array; epoch: bigint; contentType: number }) {
  return new Writer(m.groupId.length + 16).opaque(m.groupId).u64(m.epoch).u8(m.contentType).finish();
}

/**
 * A PrivateMessage for `ac` (wire format private, member sender): the next key of the sender's ratchet in
 * `tree` (which moves on), a fresh reuse guard from `random`, and `padding(n)` zero bytes after the n bytes
 * of content and auth data (a number: that many bytes).
 */
export function protectPrivate(
  suite: CipherSuite,
  ac: AuthenticatedContent,
  senderDataSecret: Uint8Array,
  tree: SecretTree,
  padding: number | ((length: number) => number),
  random: RandomSource,
): PrivateMessage {
  const c = ac.content;
  if (ac.wireFormat !== WireFormat.PrivateMessage) {
    throw new RangeError("content was signed for another wire format");
  }
  if (c.sender.type !== SenderType.Member) throw new RangeError("only members send PrivateMessages");
  const contentType = c.content.type;
  const k = tree.next(c.sender.leafIndex, contentType === 1 ? "application" : "handshake");
  const guard = random(4);
  const nonce = k.nonce.slice();
  for (let i = 0; i < 4; i++) nonce[i] ^= guard[i];
  const plaintext = encodeWith((w) => {
    writeContentBody(w, c.content);
    writeAuthData(w, ac.auth, contentType);
    const zeros = typeof padding === "number" ? padding : padding(w.length);
    if (!Number.isInteger(zeros) || zeros < 0) {
      throw new RangeError(`padding must be a count of bytes, got ${zeros}`);
    }
    w.bytes(new Uint8Array(zeros));
  });
  const header = { groupId: c.groupId, epoch: c.epoch, contentType, authenticatedData: c.authenticatedData };
  const ciphertext = suite.aeadSeal(k.key, nonce, contentAad(header), plaintext);
  const senderData = new Writer(12).u32(c.sender.leafIndex).u32(k.generation).bytes(guard).finish();
  const sd = senderDataKeyNonce(suite, senderDataSecret, ciphertext);
  const encryptedSenderData = suite.aeadSeal(sd.key, sd.nonce, senderDataAad(header), senderData);
  return { ...header, encryptedSenderData, ciphertext };
}

/** SenderData (§6.3.2) of a PrivateMessage. */
export interface SenderData {
  readonly leafIndex: number;
  readonly generation: number;
  readonly reuseGuard: Uint8Array;
}

/** Decrypts and parses a PrivateMessage's SenderData; MlsError("undecryptable") if it does not open. */
export function openSenderData(
  suite: CipherSuite,
  m: PrivateMessage,
  senderDataSecret: Uint8Array,
): SenderData {
  const sd = senderDataKeyNonce(suite, senderDataSecret, m.ciphertext);
  const raw = suite.aeadOpen(sd.key, sd.nonce, senderDataAad(m), m.encryptedSenderData, "the sender data");
  const r = new Reader(raw, "SenderData");
  const out = {
    leafIndex: r.u32("leaf_index"),
    generation: r.u32("generation"),
    reuseGuard: r.bytes(4, "reuse_guard"),
  };
  r.end();
  return out;
}

/**
 * The AuthenticatedContent of a PrivateMessage whose SenderData `sender` was already opened (and whose leaf
 * the caller checked is a member): takes the generation's key from `tree` (consuming it), decrypts, parses
 * the content and auth data, and checks that the padding is all zeros. The signature is the caller's to
 * check. MlsError("undecryptable"), "replay", "limit" or "malformed".
 */
export function unprotectPrivate(
  suite: CipherSuite,
  m: PrivateMessage,
  sender: SenderData,
  tree: SecretTree,
  limits?: RatchetLimits,
): AuthenticatedContent {
  const type = m.contentType === 1 ? "application" : "handshake";
  const k = tree.get(sender.leafIndex, type, sender.generation, limits);
  const nonce = k.nonce.slice();
  for (let i = 0; i < 4; i++) nonce[i] ^= sender.reuseGuard[i];
  const plaintext = suite.aeadOpen(k.key, nonce, contentAad(m), m.ciphertext, "the message content");
  const r = new Reader(plaintext, "PrivateMessageContent");
  const body = readContentBody(r, m.contentType);
  const auth = readAuthData(r, m.contentType);
  // §6.3.1: the padding must be all zeros, so it cannot carry a covert channel.
  const rest = r.bytes(r.remaining, "padding");
  let nonZero = 0;
  for (const b of rest) nonZero |= b;
  if (nonZero !== 0) throw new MlsError("malformed", "the PrivateMessage's padding is not all zeros");
  const content: FramedContent = {
    groupId: m.groupId,
    epoch: m.epoch,
    sender: { type: SenderType.Member, leafIndex: sender.leafIndex },
    authenticatedData: m.authenticatedData,
    content: body,
  };
  return { wireFormat: WireFormat.PrivateMessage, content, auth };
}
