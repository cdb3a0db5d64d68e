import { describe, expect, it } from "vitest";
import { ICON, ICON_TURN, tabSignal } from "../src/tab";

describe("the tab's turn signal", () => {
  it("flags your turn only in a hidden tab", () => {
    expect(tabSignal(true, true, "perudo · ABCD")).toEqual({ title: "▶ Your turn · perudo · ABCD", icon: ICON_TURN });
    expect(tabSignal(true, false, "perudo · ABCD")).toEqual({ title: "perudo · ABCD", icon: ICON });
    expect(tabSignal(false, true, "perudo · ABCD")).toEqual({ title: "perudo · ABCD", icon: ICON });
  });
});
