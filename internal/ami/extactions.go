package ami

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// ExtAction is a manager action another module provides (app_voicemail's
// VoicemailUsersList and VoicemailRefresh): registered on a running server, listed by
// ListCommands, checked against the session's write permissions as the built-in ones.
type ExtAction struct {
	Name      string
	Authority Class // write classes needed (any one of them); 0: anyone logged in
	Synopsis  string
	// Run answers the request; get reads one of its headers. It runs on the session's
	// goroutine, under a 60 s deadline.
	Run func(ctx context.Context, get func(key string) string) ExtReply
}

// ExtReply is an ExtAction's answer: Response: Error with Err as its Message; or Response:
// Success with Message, followed, when List is set, by its items and its complete event
// (astman_send_listack, astman_send_list_complete).
type ExtReply struct {
	Err     string
	Message string
	List    *ExtList
}

// ExtList is a list answer: Items are events named Event (each "Event: Event", the
// ActionID, then the fields), then Complete with EventList: Complete and ListItems.
type ExtList struct {
	Event    string
	Items    [][]Field
	Complete string
}

type extActions struct {
	mu sync.RWMutex
	m  map[string]*ExtAction
}

// RegisterAction adds (or replaces) a module's action; a built-in action's name is refused.
func (s *Server) RegisterAction(a ExtAction) error {
	key := strings.ToLower(a.Name)
	if actions[key] != nil {
		return fmt.Errorf("ami: %s is a built-in action", a.Name)
	}
	s.ext.mu.Lock()
	if s.ext.m == nil {
		s.ext.m = map[string]*ExtAction{}
	}
	s.ext.m[key] = &a
	s.ext.mu.Unlock()
	return nil
}

// UnregisterAction removes a module's action.
func (s *Server) UnregisterAction(name string) {
	s.ext.mu.Lock()
	delete(s.ext.m, strings.ToLower(name))
	s.ext.mu.Unlock()
}

func (s *Server) extAction(lname string) *ExtAction {
	s.ext.mu.RLock()
	defer s.ext.mu.RUnlock()
	return s.ext.m[lname]
}

// extList returns the registered actions sorted by name.
func (s *Server) extList() []*ExtAction {
	s.ext.mu.RLock()
	out := make([]*ExtAction, 0, len(s.ext.m))
	for _, a := range s.ext.m {
		out = append(out, a)
	}
	s.ext.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out
}

// runExt answers r with a module's action.
func (s *Server) runExt(r *request, a *ExtAction) {
	ctx, cancel := context.WithTimeout(s.ctx, 60*time.Second)
	defer cancel()
	rep := a.Run(ctx, r.p.Get)
	switch {
	case rep.Err != "":
		r.fail(rep.Err)
	case rep.List != nil:
		r.listStart(rep.Message)
		for _, it := range rep.List.Items {
			r.listItem(rep.List.Event, it...)
		}
		r.listComplete(rep.List.Complete, len(rep.List.Items))
	default:
		r.ack(rep.Message)
	}
}
