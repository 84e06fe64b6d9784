// Package moh is Pleiades' music on hold (Asterisk's res_musiconhold in files mode): the
// classes of musiconhold.conf, the music a channel hears from them, the MusicOnHold,
// StartMusicOnHold and StopMusicOnHold applications, the music of Dial's m option and of a
// held party in a bridge (through channel.MusicOnHold), and the CLI commands
// "moh show classes", "moh show files" and "moh reload".
//
// # Use (internal/core's res_musiconhold module; other packages)
//
//	r := moh.New(log)
//	c, warns := moh.Parse(cfg, moh.Options{DataDir: astdatadir}) // never fails: warns are file:line
//	r.Apply(c)                           // load and reload
//	r.SetSoundsDir(astdatadir + "/sounds") // where announcement= is found
//	r.Register(dialplanEngine)           // the applications; r plays Dial(m) and hold music on
//	                                     // the engine's channel registry (Registry.SetMusicOnHold)
//	cli.MustRegister(r.Commands(reload)...)
//	err := r.Play(ctx, ch, class)        // blocks: music to ch until ctx ends (nil); Queue's
//	                                     // callers wait with it (see below)
//	r.StartMOH(leg, class); r.StopMOH(leg) // background music on a call leg
//	r.Close()                            // stops every channel's music, waits
//
// Play(ctx, ch *dialplan.Channel, class) is the API for another application (Queue): it
// plays until ctx ends and then returns nil; it returns an error at once when nothing can
// be played — ErrNoClass (no class of that name, nor the channel's, nor "default", has
// files), ErrNoMedia (a console or Local channel), ErrNotAnswered (answeredonly=yes on a
// channel not answered) — and the caller then waits in silence if it must. The class is
// chosen as Asterisk's ast_moh_start(chan, class, NULL): with [general]
// preferchannelclass=yes (the default) the channel's CHANNEL(musicclass) first, then the
// class given, then "default"; with preferchannelclass=no the class given first. A class
// that does not exist is warned about ("Music on Hold class 'x' not found in memory. Verify
// your configuration.") and the next one tried. A channel not yet answered gets progress
// first (SIP 183 with SDP: early media, as chan_sip sends before the first audio of an
// unanswered call). The channel's hangup, StopMOH on it, or music started on it by anyone
// else ends Play early (it then returns nil). PlayLeg is the same for a leg without a
// dialplan channel.
//
// # musiconhold.conf
//
// Parsed with internal/conf, then as res_musiconhold's load_moh_classes: [general]
// cachertclasses (accepted; there are no realtime classes) and preferchannelclass; any
// other [general] option is warned about. Each other section is a class: mode (files or
// playlist), directory (relative to astdatadir, as Asterisk's ast_config_AST_DATA_DIR;
// absolute as is), sort=alpha|random|randstart, announcement=, loop_last=, answeredonly=,
// digit=, entry= (playlist). A class that cannot be played is skipped with a warning
// naming musiconhold.conf:line: no mode, files without directory, a directory that cannot
// be read, a directory without a file Pleiades can play ("Files not found in moh for moh
// class:default", Asterisk's words, as a warning rather than Asterisk's verbose 3 so the
// operator sees why music on hold is silent), mode=custom|mp3|mp3nb|quietmp3|quietmp3nb|
// httpmp3 (an external player: not supported), an unknown mode, a second class of the same
// name (case-insensitive), a playlist without a usable entry (URLs are not fetched: warned
// and skipped). Without musiconhold.conf the server runs Asterisk's sample: [default]
// mode=files directory=moh. A reload (moh reload, reload, module reload
// res_musiconhold.so) reads the file and scans the directories again; music already
// playing goes on with the files its class had.
//
// Files mode lists the directory as res_musiconhold's on_moh_file: no dot files, an
// extension of two characters or more that is a format Pleiades reads (sound.Playable:
// wav, sln, raw, ulaw, pcm, ul, mu, ulw, alaw, al, alw), each name once whatever formats it
// comes in; "moh show files" shows the names without extension. When a file is played the
// format in the leg's codec is taken first (a .ulaw file goes to a µ-law leg unconverted),
// else any other (internal/media/sound). mp3 files are not played (Asterisk needs
// format_mp3 for them).
//
// # What a channel hears
//
// The class's files one after the other, each sent by media.Session.Play: 20 ms packets
// (the peer's ptime) paced in real time against the clock, in the leg's codec. sort=alpha:
// names compared without case, from the first; no sort=: the directory's order (Go lists
// it sorted by name), from the first; randstart: alpha order from a file chosen at random
// (Asterisk's MOH_RANDSTART is "sorted, random start position": a random starting file,
// not an offset inside a file); random: every file chosen at random. After the last file
// the first again, or the last again with loop_last=yes. With announcement= the
// announcement plays first and between two files (the channel's language, the sounds
// directory, as Playback). Music stopped and started again on the same channel in the
// same class goes on in the file and at the place it stopped (res_musiconhold's saved
// position). A file that cannot be read is warned about ("Unable to open file") and the
// next one tried; when none can be read the music stops. The verbose-3 lines are
// Asterisk's: "Started music on hold, class 'default', on channel 'SIP/alice-00000001'"
// and "Stopped music on hold on SIP/alice-00000001"; the channel publishes
// MusicOnHoldStart (with Class) and MusicOnHoldStop (channel.PublishMusicOnHold), which AMI
// sends as Asterisk 20 does (none after the channel's Hangup).
//
// # Applications and the channel core
//
//   - MusicOnHold([class[,duration]]): music for duration seconds (none, 0: until the
//     hangup; not a number: warned, "Will wait indefinitely"), then the dialplan goes on.
//     It does not answer (early media). A digit that is a class's digit= switches to that
//     class and makes it the channel's (moh_handle_digit). When no music can start it warns "Unable to start
//     music on hold class 'x' on channel ..." and the dialplan goes on at once, as Asterisk.
//     On a channel without media (console, Local) it only waits.
//   - StartMusicOnHold([class]): the same in the background while the dialplan goes on;
//     StopMusicOnHold() ends it. A file played on the channel (Playback, Read's prompt)
//     ends it for good, as Asterisk's file streams deactivate the music's generator. The
//     music also ends when the channel joins a bridge
//     (channel.Bridge stops music on both channels before it relays audio, or the relayed
//     audio would be held back behind it) and at the hangup.
//   - Dial(...,m[(class)]) (internal/dialplan): the caller hears music instead of ringing
//     (progress, no ringing indication) until a callee answers or the dial ends; m(class)
//     plays class whatever the channel's own (app_dial makes it the channel's class for the
//     start), m alone the channel's class, else default. The callee's leg inherits the
//     caller's CHANNEL(musicclass) when it has none (app_dial).
//   - Hold: when one side of a bridge puts the call on hold (SIP re-INVITE sendonly,
//     inactive or c=0.0.0.0: FrameHold), the bridge starts music on the other side, the held
//     party, with its own class or default (chan_sip's mohinterpret default), and stops it at
//     the unhold or when the bridge ends. This lives in internal/channel's Bridge through the
//     channel.MusicOnHold hook (Registry.SetMusicOnHold), so the SIP driver is unchanged;
//     sip.conf's mohinterpret/mohsuggest are not read (Pleiades uses the channel's class,
//     else default).
//   - CHANNEL(musicclass) (internal/dialplan) reads and sets the class on the leg.
//
// # Not done (and why)
//
// digit= switches class only while MusicOnHold() runs (it owns the channel's frames and
// reads the caller's digits); elsewhere the channel's owner reads them (Dial, a bridge,
// Queue) and they do nothing to the music, where Asterisk's generator sees every digit the
// channel reads. Modes custom and mp3* (external players), playlist URLs, realtime classes
// (musiconhold in extconfig.conf), "moh unregister class" and SetMusicOnHold() are not
// implemented. Every channel streams its own copy of
// the class (no shared cached stream, which is what cachertclasses is about in Asterisk).
//
// # Concurrency
//
// Each channel's music runs on one goroutine the Registry owns (plus one waiting for the
// channel's hangup), started by StartMOH/Play and ended by StopMOH, the hangup, the end of
// Play's ctx or Close, which waits for all of them. One player per channel: a new player
// takes the channel's place in the map at once (mu, never held while waiting) and its
// goroutine stops the one it replaces and waits for it before sending anything, so two
// players never send on one channel and a start never waits for another channel's music.
// The class configuration is an atomic pointer swapped by Apply.
package moh
