//! Placeholder pages until the web client lands.

pub const HOME: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>perudo</title></head>
<body><h1>perudo</h1>
<p>A Perudo (Liar's dice) server. The browser client is on its way; until then rooms are
created with <code>POST /api/rooms</code> and played over the WebSocket protocol.</p>
</body></html>"#;

pub const ROOM: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>perudo room</title></head>
<body><h1>perudo room</h1>
<p>This is a room's share link. The browser client that plays here is on its way.</p>
</body></html>"#;
