// server/time-zone.ts on its own: which zone a request's times are shown in
// (the signed-in person's, else the browser's cookie, else UTC), which names
// are zones, and where the time zone form may go back to.
import test from "ava";
import { backPath, changeZoneUrl, cookieZone, readerZone, timeZoneOf, zoneGroups } from "../../server/time-zone.ts";

test("a zone is one the runtime lists, or UTC, named as the runtime names it", (t) => {
  t.is(timeZoneOf("Europe/Paris"), "Europe/Paris");
  t.is(timeZoneOf("UTC"), "UTC");
  t.is(timeZoneOf("Etc/UTC"), "UTC", "an alias of UTC");
  t.is(timeZoneOf("US/Eastern"), "America/New_York", "an alias the runtime resolves");
  for (const bad of [
    undefined,
    null,
    42,
    "",
    "Mars/Olympus",
    "Europe/Paris ",
    "Etc/GMT+5",
    "../etc/passwd",
    "x".repeat(65),
    ["Europe/Paris"],
  ])
    t.is(timeZoneOf(bad), null, JSON.stringify(bad));
});

test("the reader's zone is the signed-in person's, else the cookie's, else UTC", (t) => {
  const cookie = "other=1; sidejob_zone=Asia/Tokyo";
  t.is(readerZone({ user: { zone: "Europe/Paris" }, cookie }), "Europe/Paris");
  t.is(readerZone({ user: { zone: "Mars/Olympus" }, cookie }), "Asia/Tokyo", "a zone that is none is passed over");
  t.is(readerZone({ user: null, cookie }), "Asia/Tokyo");
  t.is(readerZone({ cookie: "sidejob_zone=Mars/Olympus" }), "UTC");
  t.is(readerZone({}), "UTC");
});

test("the cookie's zone is read from a Cookie header: the first one that is a zone", (t) => {
  t.is(cookieZone("a=b;sidejob_zone=Europe/Paris ; c=d"), "Europe/Paris");
  t.is(cookieZone("sidejob_zone=nowhere; sidejob_zone=Asia/Tokyo"), "Asia/Tokyo");
  t.is(cookieZone("my_sidejob_zone=Asia/Tokyo"), null, "another cookie's name");
  t.is(cookieZone(undefined), null);
  t.is(cookieZone("sidejob_zone"), null);
});

test("the form goes back to a path on this site, never another host", (t) => {
  const cases: [unknown, string][] = [
    ["/jobs/abc", "/jobs/abc"],
    ["/jobs/abc?all=1#results", "/jobs/abc?all=1"],
    ["/ä b", "/%C3%A4%20b"],
    ["https://evil.example/", "/"],
    ["//evil.example/", "/"],
    ["/\\evil.example/", "/"],
    ["\\\\evil.example/", "/"],
    ["javascript:alert(1)", "/"],
    ["/a\nb", "/"],
    ["jobs/abc", "/"],
    ["/" + "a".repeat(3000), "/"],
    [undefined, "/"],
    [["/jobs/abc"], "/"],
  ];
  for (const [back, path] of cases) t.is(backPath(back), path, JSON.stringify(back));
  t.is(changeZoneUrl("/jobs/abc?all=1"), "/settings/time-zone?back=%2Fjobs%2Fabc%3Fall%3D1");
  t.is(changeZoneUrl("/"), "/settings/time-zone");
});

test("the page offers every zone the runtime lists, once, by region and place", (t) => {
  const zones = zoneGroups().flatMap((g) => g.zones.map((z) => z.value));
  t.is(zones.length, Intl.supportedValuesOf("timeZone").length);
  t.is(new Set(zones).size, zones.length);
  t.true(
    zones.every((z) => timeZoneOf(z) === z),
    "each is a zone as the runtime names it",
  );
  const paris = zoneGroups()
    .find((g) => g.region === "Europe")!
    .zones.find((z) => z.value === "Europe/Paris");
  t.is(paris?.label, "Paris");
  // A zone with a state in its name ("America/North_Dakota/New_Salem") reads place first.
  const deep = zoneGroups()
    .flatMap((g) => g.zones)
    .find((z) => z.value.split("/").length === 3)!;
  const [, state, place] = deep.value.split("/");
  t.is(deep.label, `${place!.replaceAll("_", " ")}, ${state!.replaceAll("_", " ")}`);
});
