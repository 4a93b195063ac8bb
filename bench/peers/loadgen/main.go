// The echo benchmark's load client: N WebSocket connections doing
// ping-pong (each sends a fixed text message and sends the next when its
// echo is back; -pipeline K keeps K in flight) for a fixed duration after a
// warm-up. Raw frames over TCP: the handshake is checked, the client frame
// is built and masked once per connection, echoes are read with a minimal
// parser and compared byte for byte. No library, so every server meets the
// same client. Against gorilla the Python client (bench/wsclient.py) gave
// a half to two thirds of this one's figure on the same machine. Per
// message both cost about what gorilla's server does (mostly the kernel's
// loopback TCP), so against gorilla any one-core client is the limit.
//
// Prints {"event": "measuring"} when the measured window opens, then one
// JSON result line: per-connection echo counts over the window, wrong
// echoes, connections closed early, and the client's own CPU share.
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type conn struct {
	c        net.Conn
	r        *bufio.Reader
	fd       int
	out      []byte // the client frame, built and masked once
	pending  []byte // an incomplete frame from the last read
	received atomic.Int64
	wrong    atomic.Int64
	closed   atomic.Bool
}

var sending atomic.Bool

func frame(opcode byte, payload []byte) []byte {
	var out []byte
	n := len(payload)
	switch {
	case n < 126:
		out = []byte{0x80 | opcode, 0x80 | byte(n)}
	case n < 65536:
		out = []byte{0x80 | opcode, 0x80 | 126, byte(n >> 8), byte(n)}
	default:
		out = make([]byte, 10)
		out[0], out[1] = 0x80|opcode, 0x80|127
		binary.BigEndian.PutUint64(out[2:], uint64(n))
	}
	mask := make([]byte, 4)
	rand.Read(mask)
	out = append(out, mask...)
	for i, b := range payload {
		out = append(out, b^mask[i%4])
	}
	return out
}

func dial(addr, path string) (*conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 16)
	rand.Read(key)
	k := base64.StdEncoding.EncodeToString(key)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, addr, k)
	r := bufio.NewReaderSize(c, 65536)
	status, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101") {
		c.Close()
		return nil, fmt.Errorf("handshake refused: %q %v", status, err)
	}
	sum := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	want := base64.StdEncoding.EncodeToString(sum[:])
	accepted := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		line = strings.TrimSpace(line)
		if line == "" {
			break
		}
		name, value, _ := strings.Cut(line, ":")
		if strings.EqualFold(name, "Sec-WebSocket-Accept") && strings.TrimSpace(value) == want {
			accepted = true
		}
	}
	if !accepted {
		c.Close()
		return nil, fmt.Errorf("bad Sec-WebSocket-Accept")
	}
	return &conn{c: c, r: r}, nil
}

// start writes the first `depth` messages and registers the socket with the
// shared epoll set. The socket is already non-blocking (Go's runtime poller
// has it too, but no goroutine waits on it, so it never acts).
func (k *conn) start(epfd int, depth int) error {
	raw, err := k.c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err
	}
	raw.Control(func(fd uintptr) { k.fd = int(fd) })
	if n := k.r.Buffered(); n > 0 { // bytes read past the handshake
		k.pending, _ = k.r.Peek(n)
		k.pending = append([]byte(nil), k.pending...)
	}
	for i := 0; i < depth; i++ {
		k.c.Write(k.out)
	}
	return syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, k.fd,
		&syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(k.fd)})
}

// pump: every connection's ping-pong from one goroutine on one epoll set,
// a read and a write system call per message and no goroutine switch or
// per-connection stack.
func pump(epfd int, byFd map[int]*conn, message []byte) {
	runtime.LockOSThread()
	events := make([]syscall.EpollEvent, 256)
	buffer := make([]byte, 65536)
	for {
		n, err := syscall.EpollWait(epfd, events, -1)
		if err != nil {
			continue // EINTR
		}
		for _, event := range events[:n] {
			k := byFd[int(event.Fd)]
			got, err := syscall.Read(k.fd, buffer)
			if err == syscall.EAGAIN {
				continue
			}
			if got <= 0 {
				k.finish(epfd)
				continue
			}
			data := buffer[:got]
			if len(k.pending) > 0 {
				data = append(k.pending, data...)
			}
			rest, open := k.frames(data, message)
			if !open {
				k.finish(epfd)
				continue
			}
			k.pending = append(k.pending[:0], rest...)
		}
	}
}

func (k *conn) finish(epfd int) {
	syscall.EpollCtl(epfd, syscall.EPOLL_CTL_DEL, k.fd, nil)
	k.closed.Store(true)
}

// frames handles every complete frame in data; returns the incomplete rest
// and false once the server has closed.
func (k *conn) frames(data, message []byte) ([]byte, bool) {
	for {
		if len(data) < 2 {
			return data, true
		}
		if data[1]&0x80 != 0 {
			return nil, false // servers do not mask
		}
		opcode, n, header := data[0]&0x0F, uint64(data[1]&0x7F), uint64(2)
		switch n {
		case 126:
			if len(data) < 4 {
				return data, true
			}
			n, header = uint64(binary.BigEndian.Uint16(data[2:4])), 4
		case 127:
			if len(data) < 10 {
				return data, true
			}
			n, header = binary.BigEndian.Uint64(data[2:10]), 10
		}
		if uint64(len(data)) < header+n {
			return data, true
		}
		payload := data[header : header+n]
		switch opcode {
		case 0x1:
			if data[0]&0xF0 != 0x80 || !bytes.Equal(payload, message) {
				k.wrong.Add(1)
			}
			k.received.Add(1)
			if sending.Load() {
				syscall.Write(k.fd, k.out)
			}
		case 0x9:
			syscall.Write(k.fd, frame(0xA, payload))
		case 0x8:
			return nil, false
		default:
			k.wrong.Add(1)
			k.received.Add(1)
		}
		data = data[header+n:]
	}
}

func cpuSeconds() float64 {
	var u syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return float64(u.Utime.Nano()+u.Stime.Nano()) / 1e9
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "server host:port")
	path := flag.String("path", "/ws/echo", "")
	connections := flag.Int("connections", 50, "")
	size := flag.Int("size", 64, "message bytes")
	pipeline := flag.Int("pipeline", 1, "messages in flight per connection")
	warmup := flag.Float64("warmup", 2, "seconds before the measured window")
	duration := flag.Float64("duration", 10, "measured seconds")
	flag.Parse()

	message := bytes.Repeat([]byte("0123456789abcdef"), *size/16+1)[:*size]
	conns := make([]*conn, *connections)
	var wg sync.WaitGroup
	gate := make(chan struct{}, 50)
	failures := make(chan error, *connections)
	for i := range conns {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			gate <- struct{}{}
			defer func() { <-gate }()
			k, err := dial(*addr, *path)
			if err != nil {
				failures <- err
				return
			}
			conns[i] = k
		}(i)
	}
	wg.Wait()
	select {
	case err := <-failures:
		fmt.Fprintln(os.Stderr, "connecting:", err)
		os.Exit(1)
	default:
	}
	sending.Store(true)
	epfd, err := syscall.EpollCreate1(0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "epoll:", err)
		os.Exit(1)
	}
	byFd := map[int]*conn{}
	for _, k := range conns {
		k.out = frame(0x1, message)
		if err := k.start(epfd, *pipeline); err != nil {
			fmt.Fprintln(os.Stderr, "epoll:", err)
			os.Exit(1)
		}
		byFd[k.fd] = k
	}
	go pump(epfd, byFd, message)
	time.Sleep(time.Duration(*warmup * float64(time.Second)))

	counts := func() []int64 {
		out := make([]int64, len(conns))
		for i, k := range conns {
			out[i] = k.received.Load()
		}
		return out
	}
	before, cpu0, t0 := counts(), cpuSeconds(), time.Now()
	fmt.Println(`{"event": "measuring"}`)
	time.Sleep(time.Duration(*duration * float64(time.Second)))
	after, cpu1, elapsed := counts(), cpuSeconds(), time.Since(t0).Seconds()
	sending.Store(false)

	perConnection := make([]int64, len(conns))
	var wrong, closed int64
	for i, k := range conns {
		perConnection[i] = after[i] - before[i]
		wrong += k.wrong.Load()
		if k.closed.Load() {
			closed++
		}
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"event": "result", "seconds": elapsed, "per_connection": perConnection,
		"wrong_echoes": wrong, "connections_closed_during_run": closed,
		"client_cpu_share": (cpu1 - cpu0) / elapsed,
	})
	time.Sleep(200 * time.Millisecond) // in-flight echoes land before the close
	closeFrame := frame(0x8, []byte{0x03, 0xE8})
	for _, k := range conns {
		k.c.Write(closeFrame)
	}
	time.Sleep(100 * time.Millisecond)
	for _, k := range conns {
		k.c.Close()
	}
}
