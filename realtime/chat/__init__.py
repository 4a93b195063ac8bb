"""Chat rooms: stored messages with edit and delete, history, reconnect sync
and presence, over /ws/chat/<room>/ and the /chat/<room>/ page.

- `models`: Room and Message;
- `store`: the database work, as plain synchronous functions;
- `presence`: who is in each room, across processes;
- `consumer`: the chat socket;
- `views`, `urls`: the room page, and sign up / log in / log out;
- `routing`: the chat socket's path;
- `admin`: rooms and messages in the Django admin.
"""
