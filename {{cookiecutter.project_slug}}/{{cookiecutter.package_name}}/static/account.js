// The account page: each time, written in UTC by the server, in the reader's own language and
// time zone; the UTC text stays on hover.
"use strict";

const format = new Intl.DateTimeFormat(undefined, {
  day: "numeric", month: "short", year: "numeric",
  hour: "2-digit", minute: "2-digit", timeZoneName: "short",
});

for (const time of document.querySelectorAll("time[datetime]")) {
  const moment = new Date(time.dateTime);
  if (Number.isNaN(moment.getTime())) continue;  // not an instant: the server's text stays
  time.title = time.textContent;
  time.textContent = format.format(moment);
}
