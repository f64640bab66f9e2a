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

func (s *Server) listChat(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
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
	ns, err := s.Chat.List(r.Context(), viewer, before, limit)
	if err != nil {
		return err
	}
	out := make([]chat.MessageJSON, len(ns))
	for i, n := range ns {
		out[i] = chat.View(n)
	}
	respond.JSON(w, http.StatusOK, map[string]any{"messages": out})
	return nil
}

type chatRequest struct {
	Text *string `json:"text"`
}

func (s *Server) writeChat(w http.ResponseWriter, r *http.Request, me account.Account) error {
	var in chatRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Text == nil {
		return fault.Invalidf("text", "missing_field", "text is required.")
	}
	n, err := s.Chat.Write(r.Context(), me, *in.Text)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusCreated, chat.View(n))
	return nil
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
