package main

// /ws/time: a hub in the pattern of gorilla's examples/chat (register,
// unregister, broadcast through one goroutine; a send channel and a writer
// goroutine per client), broadcasting {"time", "iso", "seq"} at the top of
// each second, like the project's /ws/time. The message is prepared once
// per tick (websocket.PreparedMessage) and written to every client.

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

type client struct {
	conn *websocket.Conn
	send chan *websocket.PreparedMessage
}

type hub struct {
	register   chan *client
	unregister chan *client
}

func newHub() *hub {
	h := &hub{register: make(chan *client), unregister: make(chan *client)}
	go h.run()
	return h
}

func (h *hub) run() {
	clients := map[*client]bool{}
	for {
		now := time.Now()
		next := now.Truncate(time.Second).Add(time.Second)
		timer := time.NewTimer(next.Sub(now))
	wait:
		for {
			select {
			case c := <-h.register:
				clients[c] = true
			case c := <-h.unregister:
				if clients[c] {
					delete(clients, c)
					close(c.send)
				}
			case <-timer.C:
				break wait
			}
		}
		sent := time.Now().UTC()
		text := fmt.Sprintf(`{"time": "%s", "iso": "%s", "seq": %d}`,
			next.UTC().Format("Mon, 02 Jan 2006 15:04:05 UTC"), sent.Format("2006-01-02T15:04:05.000Z"), next.Unix())
		message, _ := websocket.NewPreparedMessage(websocket.TextMessage, []byte(text))
		for c := range clients {
			select {
			case c.send <- message:
			default: // too slow: drop the client, as examples/chat does
				delete(clients, c)
				close(c.send)
			}
		}
	}
}

func serveTime(h *hub) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &client{conn: conn, send: make(chan *websocket.PreparedMessage, 16)}
		h.register <- c
		go func() { // writer
			for message := range c.send {
				if conn.WritePreparedMessage(message) != nil {
					break
				}
			}
			conn.Close()
		}()
		for { // reader: answers pings and notices the close
			if _, _, err := conn.ReadMessage(); err != nil {
				break
			}
		}
		h.unregister <- c
	}
}
