// What anyone can read of an MLSMessage without keys (RFC 9420 §6): the delivery service orders and routes
// handshake messages by these fields, and a client finds which of its KeyPackages a Welcome is for. The
// decoding is the strict one of messages.ts (so a message that passes here is well formed), but nothing
// here authenticates anything: a relay must treat these values as claims.

import { MlsError } from "./errors.ts";
import {
  ContentType,
  type ContentTypeValue,
  decodeMlsMessage,
  SenderType,
  WireFormat,
  writeKeyPackage,
} from "./messages.ts";
import { encodeWith } from "./codec.ts";
import { getSuite } from "./suite.ts";

export type MessageSummary =
  | {
    readonly wireFormat: "public" | "private";
    readonly groupId: Uint8Array;
    readonly epoch: bigint;
    readonly contentType: "application" | "proposal" | "commit";
    /** A PublicMessage's sender leaf (PrivateMessages encrypt it). */
    readonly senderLeaf?: number;
  }
  | {
    readonly wireFormat: "welcome";
    readonly cipherSuite: number;
    /** The KeyPackageRefs of the new members the Welcome is for. */
    readonly keyPackageRefs: readonly Uint8Array[];
  }
  | { readonly wireFormat: "group-info"; readonly groupId: Uint8Array; readonly epoch: bigint }
  | { readonly wireFormat: "key-package"; readonly cipherSuite: number; readonly keyPackageRef?: Uint8Array };

const CONTENT: Record<ContentTypeValue, "application" | "proposal" | "commit"> = {
  [ContentType.Application]: "application",
  [ContentType.Proposal]: "proposal",
  [ContentType.Commit]: "commit",
};

/** The clear fields of an MLSMessage; MlsError("malformed" or "unsupported") if it is not one. */
export function inspectMessage(bytes: Uint8Array): MessageSummary {
  const m = decodeMlsMessage(bytes);
  switch (m.wireFormat) {
    case WireFormat.PublicMessage: {
      const c = m.publicMessage.content;
      return {
        wireFormat: "public",
        groupId: c.groupId,
        epoch: c.epoch,
        contentType: CONTENT[c.content.type],
        ...(c.sender.type === SenderType.Member ? { senderLeaf: c.sender.leafIndex } : {}),
      };
    }
    case WireFormat.PrivateMessage: {
      const p = m.privateMessage;
      return {
        wireFormat: "private",
        groupId: p.groupId,
        epoch: p.epoch,
        contentType: CONTENT[p.contentType],
      };
    }
    case WireFormat.Welcome:
      return {
        wireFormat: "welcome",
        cipherSuite: m.welcome.cipherSuite,
        keyPackageRefs: m.welcome.secrets.map((s) => s.newMember),
      };
    case WireFormat.GroupInfo:
      return {
        wireFormat: "group-info",
        groupId: m.groupInfo.groupContext.groupId,
        epoch: m.groupInfo.groupContext.epoch,
      };
    case WireFormat.KeyPackage: {
      let keyPackageRef: Uint8Array | undefined;
      try {
        keyPackageRef = getSuite(m.keyPackage.cipherSuite).keyPackageRef(
          encodeWith((w) => writeKeyPackage(w, m.keyPackage)),
        );
      } catch (e) {
        if (!(e instanceof MlsError)) throw e;
      }
      return {
        wireFormat: "key-package",
        cipherSuite: m.keyPackage.cipherSuite,
        ...(keyPackageRef ? { keyPackageRef } : {}),
      };
    }
  }
}
