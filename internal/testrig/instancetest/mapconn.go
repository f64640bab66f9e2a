package instancetest

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// MapConn is a client of the live map (/ws/map) over a real WebSocket.
type MapConn struct {
	t    testing.TB
	conn *websocket.Conn
	msgs chan MapMessage
	// Hello is the server's first message, with the map's head as its cursor.
	Hello MapMessage
}

// MapMessage is a message of the live map, as much of it as the tests look at.
type MapMessage struct {
	Type    string `json:"type"`
	Cursor  string `json:"cursor"`
	Catchup bool   `json:"catchup"`
	Knoten  []struct {
		ID string `json:"id"`
	} `json:"knoten"`
}

// Has says whether the message carries the Knoten.
func (m MapMessage) Has(knoten string) bool {
	return slices.ContainsFunc(m.Knoten, func(k struct {
		ID string `json:"id"`
	}) bool {
		return k.ID == knoten
	})
}

// DialMap connects to the live map of the server at base (an instance's URL) and waits for its
// hello, which must be the first message; the connection closes when the test ends.
func DialMap(t testing.TB, base string) *MapConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Patience)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(base, "http://", "ws://", 1)+"/ws/map", nil)
	if err != nil {
		t.Fatalf("dial %s/ws/map: %v", base, err)
	}
	conn.SetReadLimit(16 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	c := &MapConn{t: t, conn: conn, msgs: make(chan MapMessage, 1000)}
	go func() {
		defer close(c.msgs)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var m MapMessage
			if json.Unmarshal(data, &m) == nil {
				c.msgs <- m
			}
		}
	}()
	c.Hello = c.Until("hello", func(MapMessage) bool { return true })
	if c.Hello.Type != "hello" {
		t.Fatalf("the map's first message is %+v, not its hello", c.Hello)
	}
	return c
}

// Send sends a message (encoded as JSON), e.g. a subscription.
func (c *MapConn) Send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		c.t.Fatalf("send to the map: %v", err)
	}
}

// Subscribe subscribes to the cells and waits for each cell's state.
func (c *MapConn) Subscribe(cells []string) {
	c.t.Helper()
	c.Send(map[string]any{"type": "subscribe", "cells": cells})
	for range cells {
		c.Until("the cells' state", func(m MapMessage) bool { return m.Type == "state" })
	}
}

// Until reads messages until one satisfies ok and returns it; it fails the test if the
// connection closes first or none comes within Patience.
func (c *MapConn) Until(what string, ok func(MapMessage) bool) MapMessage {
	c.t.Helper()
	deadline := time.After(Patience)
	for {
		select {
		case m, open := <-c.msgs:
			if !open {
				c.t.Fatalf("the map connection closed while waiting for %s", what)
			}
			if ok(m) {
				return m
			}
		case <-deadline:
			c.t.Fatalf("no %s on the map within %s", what, Patience)
		}
	}
}

// Close closes the connection, as a client that goes away.
func (c *MapConn) Close() { c.conn.CloseNow() }
