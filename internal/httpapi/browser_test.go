package httpapi

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/devstate"
	"github.com/pleiades-pbx/pleiades/internal/event"
	"github.com/pleiades-pbx/pleiades/internal/hint"
	"github.com/pleiades-pbx/pleiades/internal/state"
	"github.com/pleiades-pbx/pleiades/test/webdriver"
)

func TestBrowserBLFBoard(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test in -short mode")
	}
	d := webdriver.Start(t)
	f := newFixture(t, fixtureOpts{})
	f.hints.Sync("extensions.conf", []hint.Spec{
		{Exten: "1234", Context: "devstate_test", Devices: "Custom:mystate", Source: "extensions.conf:3"},
		{Exten: "100", Context: "office", Devices: "SIP/alice&Custom:alice-dnd"},
		{Exten: "101", Context: "office", Devices: "SIP/bob"},
		{Exten: "102", Context: "office", Devices: "SIP/carol"},
		{Exten: "103", Context: "office", Devices: "SIP/dave"},
		{Exten: "200", Context: "office", Devices: "Custom:frontdesk"},
	})
	f.ds.RegisterProvider("SIP/", devstate.ProviderFunc(func(string) state.Device { return state.Unavailable }))
	f.ds.Set("SIP/alice", state.NotInUse)
	f.bus.Publish(event.DeviceState{Device: "SIP/bob", State: state.Ringing, EID: remoteEID})
	f.ds.Set("SIP/carol", state.OnHold)
	f.ds.Set("SIP/dave", state.NotInUse)
	f.bus.Publish(event.DeviceState{Device: "SIP/dave", State: state.InUse, EID: remoteEID})
	f.ds.SetCustom("Custom:frontdesk", "BUSY")
	f.idle(t)

	d.Call("POST", "/session/"+d.Session+"/url", map[string]any{"url": f.base + "/board/?api_key=admin:secret"})
	lamp := `const l = document.querySelector('[data-key="1234@devstate_test"]'); return l ? l.dataset.state : "";`
	d.WaitFor("initial lamp", lamp, "Idle")
	d.WaitFor("event stream", `return document.getElementById("conn").dataset.conn;`, "live")
	d.WaitFor("members", `return String(document.querySelectorAll(".member").length);`, "2")
	// Members are grouped by site, each group headed by the site and the link to it.
	d.WaitFor("site groups", `return [...document.querySelectorAll(".members > li")].map((li) => li.classList.contains("site") ? "[" + li.textContent + "]" : li.dataset.eid).join(" ");`,
		"[no site · this site] "+localEID.String()+" [paris · link up] "+remoteEID.String())

	// Change Custom:mystate through the API: the lamp follows over the WebSocket.
	f.expect(t, "PUT", "/ari/deviceStates/Custom:mystate?deviceState=INUSE", admin, 204, nil)
	d.WaitFor("lamp after PUT", lamp, "InUse")
	d.WaitFor("contributing server", `const c = document.querySelector('[data-key="1234@devstate_test"] .chip.server'); return c ? c.dataset.eid + " " + c.dataset.state : "";`,
		localEID.String()+" INUSE")
	d.WaitFor("remote contribution", `const c = document.querySelectorAll('[data-key="103@office"] .chip.server'); return c.length === 2 ? c[1].dataset.eid + " " + c[1].dataset.state : "";`,
		remoteEID.String()+" INUSE")

	time.Sleep(400 * time.Millisecond) // let the lamp's colour transition end
	art := filepath.Join("..", "..", "test", "artifacts")
	d.Screenshot(filepath.Join(art, "blf-board.png"))
	// The same page on a phone-sized screen.
	d.Call("POST", "/session/"+d.Session+"/window/rect", map[string]any{"width": 390, "height": 844})
	d.WaitFor("one column of members", `return String(document.querySelector(".members").getBoundingClientRect().width < 400);`, "true")
	time.Sleep(200 * time.Millisecond)
	d.Screenshot(filepath.Join(art, "blf-board-phone.png"))

	// Back to Idle.
	f.expect(t, "PUT", "/ari/deviceStates/Custom:mystate?deviceState=NOT_INUSE", admin, 204, nil)
	d.WaitFor("lamp back to idle", lamp, "Idle")
}
