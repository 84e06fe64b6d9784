package ami

import (
	"context"
	"strings"
	"testing"
)

func TestModuleActions(t *testing.T) {
	e := startServer(t, testConf, nil)
	got := make(chan string, 10) // the action runs on the session's goroutine
	if err := e.srv.RegisterAction(ExtAction{Name: "Ping", Run: nil}); err == nil {
		t.Fatal("a built-in action replaced")
	}
	e.srv.RegisterAction(ExtAction{Name: "WidgetList", Authority: ClassCall | ClassReporting, Synopsis: "List widgets.",
		Run: func(_ context.Context, get func(string) string) ExtReply {
			got <- get("Color")
			return ExtReply{Message: "Widgets will follow", List: &ExtList{Event: "WidgetEntry", Complete: "WidgetEntryComplete",
				Items: [][]Field{{{"Name", "a"}}, {{"Name", "b"}}}}}
		}})
	e.srv.RegisterAction(ExtAction{Name: "WidgetPoke", Authority: ClassSystem, Synopsis: "Poke.",
		Run: func(context.Context, func(string) string) ExtReply { return ExtReply{Err: "No widget"} }})

	c := dial(t, e.addr)
	c.login("admin", "adminpw", "Events: off")
	want(t, c.action("Action: widgetlist", "ActionID: 7", "Color: red"), "Response", "Success", "EventList", "start", "Message", "Widgets will follow", "ActionID", "7")
	if g := <-got; g != "red" {
		t.Fatalf("header %q", g)
	}
	for _, name := range []string{"a", "b"} {
		p := c.read()
		if strings.Join(p.Lines, "|") != "Event: WidgetEntry|ActionID: 7|Name: "+name {
			t.Fatalf("item: %q", p.Lines)
		}
	}
	want(t, c.read(), "Event", "WidgetEntryComplete", "ActionID", "7", "EventList", "Complete", "ListItems", "2")
	want(t, c.action("Action: WidgetPoke"), "Response", "Error", "Message", "No widget")
	if p := c.action("Action: ListCommands"); p.Get("WidgetList") != "List widgets. (Priv: call,reporting,all)" {
		t.Errorf("ListCommands: %q", p.Lines)
	}

	r := dial(t, e.addr)
	r.login("reader", "readerpw")
	want(t, r.action("Action: WidgetPoke"), "Response", "Error", "Message", "Permission denied")
	if p := r.action("Action: ListCommands"); p.Get("WidgetPoke") != "" {
		t.Errorf("ListCommands for reader lists WidgetPoke: %q", p.Lines)
	}

	e.srv.UnregisterAction("WidgetList")
	if p := c.action("Action: WidgetList"); !strings.Contains(p.Get("Message"), "Invalid/unknown command") {
		t.Errorf("after unregister: %q", p.Lines)
	}
}
