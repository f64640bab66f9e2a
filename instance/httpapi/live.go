package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/chat"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/respond"
	"github.com/weltgewebe/weltgewebe/instance/stream"
)

// The live map's helper route and the Nähstübchen (docs/MAPFEED.md). The WebSockets
// themselves are served by instance/mapfeed and instance/chat.

// mapCells names the cells covering a viewport at the resolution for its zoom, so that the
// web app needs no H3 library of its own: at most as many as one connection of the feed may
// subscribe.
func (s *Server) mapCells(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	box, err := parseBBox(v.Get("bbox"))
	if err != nil {
		return err
	}
	if !box.Valid() {
		return fault.Invalidf("bbox", "invalid_bbox", "bbox must be minLon,minLat,maxLon,maxLat in degrees, with minLat ≤ maxLat.")
	}
	zoom, err := strconv.Atoi(v.Get("zoom"))
	if err != nil || zoom < 0 || zoom > 24 {
		return fault.Invalidf("zoom", "invalid_zoom", "zoom must be a whole number from 0 to 24.")
	}
	res, most := geo.ResolutionForZoom(zoom), s.MapFeed.MaxCells()
	cells, err := geo.CoverBox(box.MinLon, box.MinLat, box.MaxLon, box.MaxLat, res, most)
	if errors.Is(err, geo.ErrTooManyCells) {
		return fault.Invalidf("bbox", "too_many_cells", "This view needs more than %d cells at zoom %d; zoom in.", most, zoom)
	}
	if err != nil {
		return err
	}
	hex := make([]string, len(cells))
	for i, c := range cells {
		hex[i] = geo.CellHex(c)
	}
	respond.JSON(w, http.StatusOK, map[string]any{"resolution": res, "cells": hex})
	return nil
}

// The chat's rooms (instance/chat; docs/STREAMS.md): one set of handlers for the Nähstübchen
// (/api/chat, /ws/chat) and every stream's room (/api/streams/{id}/chat, /ws/streams/{id}/chat).

// chatRoom is the room a chat route names: the Nähstübchen, or a stream's room, whose stream
// must exist (checked when exists is set; a write checks it in its transaction).
func (s *Server) chatRoom(r *http.Request, exists bool) (uuid.UUID, error) {
	if r.PathValue("id") == "" {
		return chat.Naehstuebchen, nil
	}
	id, err := pathID(r, stream.ErrNotFound)
	if err != nil || !exists {
		return id, err
	}
	if _, err := s.Streams.Get(r.Context(), id); err != nil {
		return uuid.Nil, err
	}
	return id, nil
}

// listChat answers a room's history: {"messages", "next", "cursor"}. next is the before of the
// next page (null: no more); cursor is the live cursor for the room's socket, taken before the
// page was read, so that a socket opened with it sends everything the page may lack.
func (s *Server) listChat(w http.ResponseWriter, r *http.Request) error {
	room, err := s.chatRoom(r, true)
	if err != nil {
		return err
	}
	v := r.URL.Query()
	sort, err := chat.ParseSort(v.Get("sort"))
	if err != nil {
		return err
	}
	var before uuid.UUID
	if b := v.Get("before"); b != "" {
		id, err := uuid.Parse(b)
		if err != nil {
			return fault.Invalidf("before", "invalid_before", "before must be a message id.")
		}
		before = id
	}
	limit := 0
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return fault.Invalidf("limit", "invalid_limit", "limit must be a positive whole number (at most %d).", chat.MaxLimit)
		}
		limit = n
	}
	viewer, err := s.viewer(r)
	if err != nil {
		return err
	}
	var cursor *string
	if s.ChatHub != nil {
		c, err := s.ChatHub.Cursor(r.Context())
		if err != nil {
			return err
		}
		cursor = &c
	}
	ns, next, err := s.Chat.List(r.Context(), room, viewer, sort, before, limit)
	if err != nil {
		return err
	}
	out := make([]chat.MessageJSON, len(ns))
	for i, n := range ns {
		out[i] = chat.View(n)
	}
	var nextID *uuid.UUID
	if next != uuid.Nil {
		nextID = &next
	}
	respond.JSON(w, http.StatusOK, map[string]any{"messages": out, "next": nextID, "cursor": cursor})
	return nil
}

type chatRequest struct {
	Text *string `json:"text"`
}

func (s *Server) writeChat(w http.ResponseWriter, r *http.Request, me account.Account) error {
	room, err := s.chatRoom(r, false)
	if err != nil {
		return err
	}
	var in chatRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Text == nil {
		return fault.Invalidf("text", "missing_field", "text is required.")
	}
	n, err := s.Chat.Write(r.Context(), room, me, *in.Text)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusCreated, chat.View(n))
	return nil
}

// voteChat takes a vote on a message of a stream's room: {"vote": 1|-1|0} → {"my_vote"}.
func (s *Server) voteChat(w http.ResponseWriter, r *http.Request, me account.Account) error {
	room, err := s.chatRoom(r, false)
	if err != nil {
		return err
	}
	msg, err := uuid.Parse(r.PathValue("message"))
	if err != nil {
		return chat.ErrNotFound
	}
	var in struct {
		Vote *int `json:"vote"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Vote == nil {
		return missing("vote")
	}
	vote, err := s.Chat.Vote(r.Context(), room, me, msg, *in.Vote)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, map[string]int{"my_vote": vote})
	return nil
}

// chatSocket serves a room's WebSocket (instance/chat's Hub); what is wrong with the request
// is answered in JSON before the upgrade.
func (s *Server) chatSocket(w http.ResponseWriter, r *http.Request) error {
	room, err := s.chatRoom(r, false) // the hub reads the stream's state, and answers 404
	if err != nil {
		return err
	}
	q := r.URL.Query()
	opt, err := chat.ParseSocket(q.Get("sort"), q.Get("cursor"))
	if err != nil {
		return err
	}
	return s.ChatHub.Serve(w, r, room, opt)
}

func (s *Server) removeChat(w http.ResponseWriter, r *http.Request, me account.Account) error {
	id, err := pathID(r, chat.ErrNotFound)
	if err != nil {
		return err
	}
	if err := s.Chat.Remove(r.Context(), me, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
