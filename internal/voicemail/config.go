package voicemail

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// General is voicemail.conf's [general] section, with Asterisk's defaults.
type General struct {
	Formats          []string      // format=wav49|gsm|wav; messages are recorded as "wav" (see doc)
	ServerEmail      string        // serveremail (default "asterisk")
	Attach           bool          // attach
	MaxMsg           int           // maxmsg (default 100)
	MaxMessage       time.Duration // maxsecs (alias maxmessage); 0: no limit
	MinMessage       time.Duration // minsecs (alias minmessage)
	MaxSilence       time.Duration // maxsilence; 0: silence never ends a message
	SilenceThreshold int           // silencethreshold (default 128)
	MaxLogins        int           // maxlogins (default 3)
	SkipMS           int           // skipms (default 3000)
	Review           bool
	Operator         bool
	SayCID           bool
	SendVoicemail    bool
	NextAfterCmd     bool
	PBXSkip          bool
	FromString       string
	EmailSubject     string
	EmailBody        string
	PagerFromString  string // pagerfromstring, pagersubject, pagerbody: the short pager mail
	PagerSubject     string
	PagerBody        string
	MailCmd          string        // default "/usr/sbin/sendmail -t"
	PollMailboxes    bool          // pollmailboxes
	PollFreq         time.Duration // pollfreq (default 30 s)
	AliasesContext   string        // aliasescontext: a section of aliases, not mailboxes
	// StorageDriver and StorageDB come from odbcstorage = [driver/]connection (Asterisk's
	// odbcstorage names a res_odbc connection: driver odbc); StorageTable from odbctable
	// (default voicemail_messages). No odbcstorage: the spool.
	StorageDriver, StorageDB, StorageTable string
	// Storage is Pleiades' storage = file | odbc | nats ("" when not set: odbc when
	// odbcstorage is set, else file). nats keeps the messages in the cluster's NATS JetStream
	// (NATSStore), in bucket NATSBucket (natsbucket, default pleiades_voicemail) with
	// NATSReplicas copies (natsreplicas, default 1).
	Storage      string
	NATSBucket   string
	NATSReplicas int
	// Vars holds every [general] variable as written (lower-case names), for what is not
	// interpreted yet.
	Vars map[string]string
}

// Zone is one [zonemessages] line: name=timezone|format.
type Zone struct {
	Name, TZ, Format string
}

// Mailbox is one mailbox: a voicemail.conf line "1234 => 4242,John Doe,john@example.com,
// pager@example.com,attach=yes|tz=eastern" or a row of the realtime voicemail family.
type Mailbox struct {
	Context, Mailbox string
	Password         string
	FullName         string
	Email, Pager     string
	// Options are the line's k=v options (lower-case keys) or the row's other columns.
	Options map[string]string
	// Realtime is true for a mailbox from the voicemail family; UniqueID is its row's id.
	Realtime bool
	UniqueID string
	// File and Line locate a voicemail.conf mailbox (for the password write-back).
	File string
	Line int
}

// ID is "mailbox@context".
func (m *Mailbox) ID() string { return m.Mailbox + "@" + m.Context }

// opt returns option name, else the general default def.
func (m *Mailbox) opt(name, def string) string {
	if v, ok := m.Options[name]; ok && v != "" {
		return v
	}
	return def
}

func (m *Mailbox) boolOpt(name string, def bool) bool {
	v, ok := m.Options[name]
	if !ok || v == "" {
		return def
	}
	if b, ok := conf.ParseBool(v); ok {
		return b
	}
	return def
}

// Config is a parsed voicemail.conf.
type Config struct {
	General   General
	Zones     []Zone
	Mailboxes map[string]*Mailbox // by "mailbox@context"
	Contexts  []string            // in file order
}

// DefaultGeneral returns [general] with nothing set.
func DefaultGeneral() General {
	return General{
		Formats: []string{"wav"}, ServerEmail: "asterisk", MaxMsg: 100,
		SilenceThreshold: 128, MaxLogins: 3, SkipMS: 3000,
		MailCmd: "/usr/sbin/sendmail -t", PollFreq: 30 * time.Second,
		NATSBucket: DefaultNATSBucket, NATSReplicas: 1,
		Vars: map[string]string{},
	}
}

// ParseConfig reads voicemail.conf (nil: no file, defaults and no mailbox). Every error names
// its file:line; nothing of a configuration with errors is used.
func ParseConfig(cfg *conf.Config) (*Config, error) {
	c := &Config{General: DefaultGeneral(), Mailboxes: map[string]*Mailbox{}}
	if cfg == nil {
		return c, nil
	}
	var errs conf.ErrorList
	fail := func(v *conf.Variable, format string, args ...any) {
		errs = append(errs, &conf.Error{File: v.File, Line: v.Line, Msg: fmt.Sprintf(format, args...)})
	}
	g := &c.General
	var storageVar *conf.Variable
	if cat := cfg.Category("general"); cat != nil {
		for _, v := range cat.Vars {
			name := strings.ToLower(v.Name)
			val := strings.TrimSpace(v.Value)
			g.Vars[name] = val
			boolean := func(dst *bool) {
				b, ok := conf.ParseBool(val)
				if !ok {
					fail(v, "%s: %q is not a boolean (yes/no)", v.Name, val)
					return
				}
				*dst = b
			}
			integer := func(dst *int, lo int) {
				n, err := strconv.Atoi(val)
				if err != nil || n < lo {
					fail(v, "%s: %q is not an integer of at least %d", v.Name, val, lo)
					return
				}
				*dst = n
			}
			seconds := func(dst *time.Duration) {
				n, err := strconv.Atoi(val)
				if err != nil || n < 0 {
					fail(v, "%s: %q is not a number of seconds", v.Name, val)
					return
				}
				*dst = time.Duration(n) * time.Second
			}
			switch name {
			case "format":
				g.Formats = nil
				for f := range strings.SplitSeq(val, "|") {
					if f = strings.TrimSpace(f); f != "" {
						g.Formats = append(g.Formats, strings.ToLower(f))
					}
				}
				if len(g.Formats) == 0 {
					fail(v, "format: no format given")
				}
			case "serveremail":
				g.ServerEmail = val
			case "attach":
				boolean(&g.Attach)
			case "maxmsg":
				integer(&g.MaxMsg, 1)
				g.MaxMsg = min(g.MaxMsg, 9999) // Asterisk's MAXMSGLIMIT
			case "maxsecs", "maxmessage":
				seconds(&g.MaxMessage)
			case "minsecs", "minmessage":
				seconds(&g.MinMessage)
			case "maxsilence":
				seconds(&g.MaxSilence)
			case "silencethreshold":
				integer(&g.SilenceThreshold, 1)
			case "maxlogins":
				integer(&g.MaxLogins, 1)
			case "skipms":
				integer(&g.SkipMS, 0)
			case "review":
				boolean(&g.Review)
			case "operator":
				boolean(&g.Operator)
			case "saycid":
				boolean(&g.SayCID)
			case "sendvoicemail":
				boolean(&g.SendVoicemail)
			case "nextaftercmd":
				boolean(&g.NextAfterCmd)
			case "pbxskip":
				boolean(&g.PBXSkip)
			case "fromstring":
				g.FromString = val
			case "emailsubject":
				g.EmailSubject = val
			case "emailbody":
				g.EmailBody = val
			case "pagerfromstring":
				g.PagerFromString = val
			case "pagersubject":
				g.PagerSubject = val
			case "pagerbody":
				g.PagerBody = val
			case "mailcmd":
				g.MailCmd = val
			case "pollmailboxes":
				boolean(&g.PollMailboxes)
			case "pollfreq":
				seconds(&g.PollFreq)
				if g.PollFreq == 0 {
					g.PollFreq = time.Second
				}
			case "aliasescontext":
				g.AliasesContext = val
			case "odbcstorage":
				drv, db, ok := strings.Cut(val, "/")
				if !ok {
					drv, db = "odbc", val
				}
				switch drv {
				case "odbc", "pgsql", "mysql", "sqlite3":
				default:
					fail(v, "odbcstorage: %q is not a driver that can store messages (odbc, pgsql, mysql, sqlite3)", drv)
				}
				if db == "" && drv == "odbc" {
					fail(v, "odbcstorage: no connection named")
				}
				g.StorageDriver, g.StorageDB = drv, db
			case "storage":
				switch strings.ToLower(val) {
				case "file", "odbc", "nats":
					g.Storage = strings.ToLower(val)
					storageVar = v
				default:
					fail(v, "storage: %q is not file, odbc or nats", val)
				}
			case "natsbucket":
				if !natsBucketName(val) {
					fail(v, "natsbucket: %q is not a NATS bucket name (letters, digits, '-', '_')", val)
				}
				g.NATSBucket = val
			case "natsreplicas":
				integer(&g.NATSReplicas, 1)
				if g.NATSReplicas > 5 {
					fail(v, "natsreplicas: %d is more than JetStream's 5 replicas", g.NATSReplicas)
				}
			case "odbctable":
				if !sqlName.MatchString(val) {
					fail(v, "odbctable: %q is not a table name", val)
				}
				g.StorageTable = val
			}
		}
	}
	switch {
	case g.Storage == "odbc" && g.StorageDriver == "":
		fail(storageVar, "storage = odbc needs odbcstorage")
	case (g.Storage == "nats" || g.Storage == "file") && g.StorageDriver != "":
		fail(storageVar, "storage = %s, but odbcstorage is set too: which one?", g.Storage)
	}
	if cat := cfg.Category("zonemessages"); cat != nil {
		for _, v := range cat.Vars {
			tz, format, ok := strings.Cut(v.Value, "|")
			if !ok || strings.TrimSpace(tz) == "" {
				fail(v, "zone %s: %q is not timezone|format", v.Name, v.Value)
				continue
			}
			if _, err := time.LoadLocation(strings.TrimSpace(tz)); err != nil {
				fail(v, "zone %s: unknown timezone %q", v.Name, strings.TrimSpace(tz))
				continue
			}
			c.Zones = append(c.Zones, Zone{Name: v.Name, TZ: strings.TrimSpace(tz), Format: strings.TrimSpace(format)})
		}
	}
	for _, cat := range cfg.Categories {
		name := strings.ToLower(cat.Name)
		if cat.Template || name == "general" || name == "zonemessages" || (g.AliasesContext != "" && strings.EqualFold(cat.Name, g.AliasesContext)) {
			continue
		}
		seen := false
		for _, v := range cat.Vars {
			if contextSetting[strings.ToLower(v.Name)] {
				continue
			}
			m, err := ParseMailboxLine(cat.Name, v.Name, v.Value)
			if err != nil {
				fail(v, "%s", err)
				continue
			}
			m.File, m.Line = v.File, v.Line
			c.Mailboxes[m.ID()] = m // a later line of the same mailbox wins, as in Asterisk
			seen = true
		}
		if seen && !contains(c.Contexts, cat.Name) {
			c.Contexts = append(c.Contexts, cat.Name)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// contextSetting lists the per-context settings that are not mailboxes.
var contextSetting = map[string]bool{"directoryintro": true}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ParseMailboxLine reads one mailbox line: name => password,full name,email,pager,options
// where options are k=v pairs separated by '|'.
func ParseMailboxLine(context, name, value string) (*Mailbox, error) {
	name = strings.TrimSpace(name)
	if name == "" || strings.ContainsAny(name, "@/ ,|") {
		return nil, fmt.Errorf("mailbox %q: not a mailbox name", name)
	}
	m := &Mailbox{Context: context, Mailbox: name, Options: map[string]string{}}
	f := strings.SplitN(value, ",", 5)
	field := func(i int) string {
		if i < len(f) {
			return strings.TrimSpace(f[i])
		}
		return ""
	}
	m.Password, m.FullName, m.Email, m.Pager = field(0), field(1), field(2), field(3)
	for opt := range strings.SplitSeq(field(4), "|") {
		opt = strings.TrimSpace(opt)
		if opt == "" {
			continue
		}
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			return nil, fmt.Errorf("mailbox %s: option %q is not name=value", name, opt)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		switch k {
		case "maxmsg":
			if n, err := strconv.Atoi(v); err != nil || n < 1 {
				return nil, fmt.Errorf("mailbox %s: maxmsg %q is not a positive integer", name, v)
			}
		case "attach", "saycid", "review", "operator", "envelope", "delete", "deletevoicemail", "sendvoicemail", "nextaftercmd":
			if _, ok := conf.ParseBool(v); !ok && k != "delete" {
				return nil, fmt.Errorf("mailbox %s: %s %q is not a boolean (yes/no)", name, k, v)
			}
		}
		m.Options[k] = v
	}
	return m, nil
}

// mailboxFromRow builds a realtime mailbox from its voicemail row (Asterisk's table:
// context, mailbox, password, fullname, email, pager, and option columns).
func mailboxFromRow(row []field) *Mailbox {
	m := &Mailbox{Realtime: true, Options: map[string]string{}}
	for _, f := range row {
		k := strings.ToLower(f.name)
		switch k {
		case "context":
			m.Context = f.value
		case "mailbox":
			m.Mailbox = f.value
		case "password":
			m.Password = f.value
		case "fullname":
			m.FullName = f.value
		case "email":
			m.Email = f.value
		case "pager":
			m.Pager = f.value
		case "uniqueid":
			m.UniqueID = f.value
		default:
			m.Options[k] = f.value
		}
	}
	if m.Context == "" {
		m.Context = "default"
	}
	return m
}

type field struct{ name, value string }

// SortedMailboxes returns the configuration's mailboxes by context (file order), then
// mailbox number.
func (c *Config) SortedMailboxes() []*Mailbox {
	order := map[string]int{}
	for i, ctx := range c.Contexts {
		order[ctx] = i
	}
	out := make([]*Mailbox, 0, len(c.Mailboxes))
	for _, m := range c.Mailboxes {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Context != b.Context {
			return order[a.Context] < order[b.Context]
		}
		return a.Mailbox < b.Mailbox
	})
	return out
}

// Zone returns the zone named name, or nil.
func (c *Config) Zone(name string) *Zone {
	for i := range c.Zones {
		if strings.EqualFold(c.Zones[i].Name, name) {
			return &c.Zones[i]
		}
	}
	return nil
}
