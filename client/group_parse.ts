// The `/group …` lines, parsed (client/group_commands.ts carries them out). Kept apart from
// client/commands.ts, which includes these in its Command and HELP, so neither imports the other at load.

import { groupNameProblem } from "../protocol/group_payload.ts";

/** A parsed `/group …` line. */
export type GroupCommand =
  | { readonly name: "group"; readonly sub: "new"; readonly groupName: string }
  | { readonly name: "group"; readonly sub: "add" | "remove" | "admin" | "unadmin"; readonly target: string }
  | { readonly name: "group"; readonly sub: "leave" | "members"; readonly target: string }
  | { readonly name: "group"; readonly sub: "accept" | "decline"; readonly target: string }
  | { readonly name: "group"; readonly sub: "name"; readonly groupName: string };

/** The /help lines of the group commands. */
export const GROUP_HELP: readonly string[] = [
  "/group new NAME     make a group (you are its creator and first admin); it becomes the active one",
  "/group add ID|NICK  invite someone you have an open chat with to the active group; added once they accept",
  "/group accept [NAME]  join a group you were invited to (/group decline [NAME] forgets it; nobody is told)",
  "/group members      who is in the active group; /group leave leaves it",
  "/group remove ID|NICK  take a member out (the creator and its admins only); /group name NAME renames",
  "/group admin ID|NICK  make a member an admin (the creator only); /group unadmin ID|NICK undoes it",
  "                    /switch NAME makes a group active; blocking someone does not remove them from groups",
];

/** Parses what follows `/group`: the command, or why it is not one (a sentence). */
export function parseGroupCommand(rest: string): GroupCommand | string {
  const m = /^(\S*)\s*(.*)$/s.exec(rest)!;
  const sub = m[1].toLowerCase(), arg = m[2].trim();
  switch (sub) {
    case "new":
    case "name": {
      if (arg === "") return `Usage: /group ${sub} NAME.`;
      const problem = groupNameProblem(arg);
      if (problem) return `${problem[0].toUpperCase()}${problem.slice(1)}.`;
      return { name: "group", sub, groupName: arg };
    }
    case "add":
    case "remove":
    case "admin":
    case "unadmin":
      if (arg === "") return `Usage: /group ${sub} ID|NICK.`;
      return { name: "group", sub, target: arg };
    case "leave":
    case "members":
    case "accept":
    case "decline":
      return { name: "group", sub, target: arg };
    case "":
      return "Usage: /group new|add|remove|leave|members|admin|accept|decline …; /help lists them.";
    default:
      return `There is no /group ${sub}; /help lists the group commands.`;
  }
}
