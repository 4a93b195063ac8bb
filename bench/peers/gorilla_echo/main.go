// The echo server of gorilla/websocket's examples/echo, reduced to the
// socket: an Upgrader and a read/write loop per connection, one goroutine
// each. No compression (gorilla's default). Also /ws/time, a hub that
// broadcasts a tick each second to every connected socket, for the fan-out
// benchmark.
//
//	gorilla_echo -addr 127.0.0.1:8080
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{} // gorilla's defaults, as in the example

func echo(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered with an HTTP error
	}
	defer c.Close()
	for {
		mt, message, err := c.ReadMessage()
		if err != nil {
			break
		}
		if err = c.WriteMessage(mt, message); err != nil {
			break
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "http service address")
	flag.Parse()
	log.SetFlags(0)
	http.HandleFunc("/ws/echo", echo)
	http.HandleFunc("/ws/time", serveTime(newHub()))
	log.Fatal(http.ListenAndServe(*addr, nil))
}
