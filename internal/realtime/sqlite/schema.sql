-- SQLite rendering of Asterisk's realtime tables (contrib/realtime/postgresql/postgresql_config.sql
-- after every migration in that script), for the tables Pleiades' built-in default configuration
-- uses. Column names and order are those of the PostgreSQL script; types are mapped to SQLite
-- affinity: VARCHAR(n) kept (TEXT affinity, the size documents the limit), enums -> TEXT,
-- SERIAL/BIGSERIAL -> INTEGER PRIMARY KEY AUTOINCREMENT, NUMERIC kept, TIMESTAMP -> TEXT
-- (so the driver reads back exactly the text stored). Statements are separated by a line
-- holding only ';'. Every statement is idempotent (IF NOT EXISTS).

-- table: sippeers
CREATE TABLE IF NOT EXISTS sippeers (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name VARCHAR(40) NOT NULL,
    ipaddr VARCHAR(45),
    port INTEGER,
    regseconds INTEGER,
    defaultuser VARCHAR(40),
    fullcontact VARCHAR(80),
    regserver VARCHAR(20),
    useragent VARCHAR(255),
    lastms INTEGER,
    host VARCHAR(40),
    type TEXT,
    context VARCHAR(40),
    permit VARCHAR(95),
    deny VARCHAR(95),
    secret VARCHAR(40),
    md5secret VARCHAR(40),
    remotesecret VARCHAR(40),
    transport TEXT,
    dtmfmode TEXT,
    directmedia TEXT,
    nat VARCHAR(29),
    callgroup VARCHAR(40),
    pickupgroup VARCHAR(40),
    language VARCHAR(40),
    disallow VARCHAR(200),
    allow VARCHAR(200),
    insecure VARCHAR(40),
    trustrpid TEXT,
    progressinband TEXT,
    promiscredir TEXT,
    useclientcode TEXT,
    accountcode VARCHAR(80),
    setvar VARCHAR(200),
    callerid VARCHAR(40),
    amaflags VARCHAR(40),
    callcounter TEXT,
    busylevel INTEGER,
    allowoverlap TEXT,
    allowsubscribe TEXT,
    videosupport TEXT,
    maxcallbitrate INTEGER,
    rfc2833compensate TEXT,
    mailbox VARCHAR(40),
    "session-timers" TEXT,
    "session-expires" INTEGER,
    "session-minse" INTEGER,
    "session-refresher" TEXT,
    t38pt_usertpsource VARCHAR(40),
    regexten VARCHAR(40),
    fromdomain VARCHAR(40),
    fromuser VARCHAR(40),
    "qualify" VARCHAR(40),
    defaultip VARCHAR(45),
    rtptimeout INTEGER,
    rtpholdtimeout INTEGER,
    sendrpid TEXT,
    outboundproxy VARCHAR(40),
    callbackextension VARCHAR(40),
    timert1 INTEGER,
    timerb INTEGER,
    qualifyfreq INTEGER,
    constantssrc TEXT,
    contactpermit VARCHAR(95),
    contactdeny VARCHAR(95),
    usereqphone TEXT,
    textsupport TEXT,
    faxdetect TEXT,
    buggymwi TEXT,
    auth VARCHAR(40),
    fullname VARCHAR(40),
    trunkname VARCHAR(40),
    cid_number VARCHAR(40),
    callingpres TEXT,
    mohinterpret VARCHAR(40),
    mohsuggest VARCHAR(40),
    parkinglot VARCHAR(40),
    hasvoicemail TEXT,
    subscribemwi TEXT,
    vmexten VARCHAR(40),
    autoframing TEXT,
    rtpkeepalive INTEGER,
    "call-limit" INTEGER,
    g726nonstandard TEXT,
    ignoresdpversion TEXT,
    allowtransfer TEXT,
    dynamic TEXT,
    path VARCHAR(256),
    supportpath TEXT,
    UNIQUE (name)
)
;
CREATE INDEX IF NOT EXISTS sippeers_name ON sippeers (name)
;
CREATE INDEX IF NOT EXISTS sippeers_name_host ON sippeers (name, host)
;
CREATE INDEX IF NOT EXISTS sippeers_ipaddr_port ON sippeers (ipaddr, port)
;
CREATE INDEX IF NOT EXISTS sippeers_host_port ON sippeers (host, port)
;
-- table: voicemail
CREATE TABLE IF NOT EXISTS voicemail (
    uniqueid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    context VARCHAR(80) NOT NULL,
    mailbox VARCHAR(80) NOT NULL,
    password VARCHAR(80) NOT NULL,
    fullname VARCHAR(80),
    alias VARCHAR(80),
    email VARCHAR(80),
    pager VARCHAR(80),
    attach TEXT,
    attachfmt VARCHAR(10),
    serveremail VARCHAR(80),
    language VARCHAR(20),
    tz VARCHAR(30),
    deletevoicemail TEXT,
    saycid TEXT,
    sendvoicemail TEXT,
    review TEXT,
    tempgreetwarn TEXT,
    operator TEXT,
    envelope TEXT,
    sayduration INTEGER,
    forcename TEXT,
    forcegreetings TEXT,
    callback VARCHAR(80),
    dialout VARCHAR(80),
    exitcontext VARCHAR(80),
    maxmsg INTEGER,
    volgain NUMERIC(5, 2),
    imapuser VARCHAR(80),
    imappassword VARCHAR(80),
    imapserver VARCHAR(80),
    imapport VARCHAR(8),
    imapflags VARCHAR(80),
    stamp TEXT
)
;
CREATE INDEX IF NOT EXISTS voicemail_mailbox ON voicemail (mailbox)
;
CREATE INDEX IF NOT EXISTS voicemail_context ON voicemail (context)
;
CREATE INDEX IF NOT EXISTS voicemail_mailbox_context ON voicemail (mailbox, context)
;
CREATE INDEX IF NOT EXISTS voicemail_imapuser ON voicemail (imapuser)
;
-- table: extensions
CREATE TABLE IF NOT EXISTS extensions (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    context VARCHAR(40) NOT NULL,
    exten VARCHAR(40) NOT NULL,
    priority INTEGER NOT NULL,
    app VARCHAR(40) NOT NULL,
    appdata VARCHAR(256) NOT NULL,
    UNIQUE (context, exten, priority),
    UNIQUE (id)
)
;
-- table: queues
CREATE TABLE IF NOT EXISTS queues (
    name VARCHAR(128) NOT NULL,
    musiconhold VARCHAR(128),
    announce VARCHAR(128),
    context VARCHAR(128),
    timeout INTEGER,
    ringinuse TEXT,
    setinterfacevar TEXT,
    setqueuevar TEXT,
    setqueueentryvar TEXT,
    monitor_format VARCHAR(8),
    membermacro VARCHAR(512),
    membergosub VARCHAR(512),
    queue_youarenext VARCHAR(128),
    queue_thereare VARCHAR(128),
    queue_callswaiting VARCHAR(128),
    queue_quantity1 VARCHAR(128),
    queue_quantity2 VARCHAR(128),
    queue_holdtime VARCHAR(128),
    queue_minutes VARCHAR(128),
    queue_minute VARCHAR(128),
    queue_seconds VARCHAR(128),
    queue_thankyou VARCHAR(128),
    queue_callerannounce VARCHAR(128),
    queue_reporthold VARCHAR(128),
    announce_frequency INTEGER,
    announce_to_first_user TEXT,
    min_announce_frequency INTEGER,
    announce_round_seconds INTEGER,
    announce_holdtime VARCHAR(128),
    announce_position VARCHAR(128),
    announce_position_limit INTEGER,
    periodic_announce VARCHAR(50),
    periodic_announce_frequency INTEGER,
    relative_periodic_announce TEXT,
    random_periodic_announce TEXT,
    retry INTEGER,
    wrapuptime INTEGER,
    penaltymemberslimit INTEGER,
    autofill TEXT,
    monitor_type VARCHAR(128),
    autopause TEXT,
    autopausedelay INTEGER,
    autopausebusy TEXT,
    autopauseunavail TEXT,
    maxlen INTEGER,
    servicelevel INTEGER,
    strategy TEXT,
    joinempty VARCHAR(128),
    leavewhenempty VARCHAR(128),
    reportholdtime TEXT,
    memberdelay INTEGER,
    weight INTEGER,
    timeoutrestart TEXT,
    defaultrule VARCHAR(128),
    timeoutpriority VARCHAR(128),
    log_restricted_caller_id TEXT,
    PRIMARY KEY (name)
)
;
-- table: queue_members
CREATE TABLE IF NOT EXISTS queue_members (
    queue_name VARCHAR(80) NOT NULL,
    interface VARCHAR(80) NOT NULL,
    membername VARCHAR(80),
    state_interface VARCHAR(80),
    penalty INTEGER,
    paused INTEGER,
    uniqueid INTEGER UNIQUE,
    wrapuptime INTEGER,
    ringinuse TEXT,
    reason_paused VARCHAR(80),
    PRIMARY KEY (queue_name, interface)
)
;
-- MySQL's script makes uniqueid AUTO_INCREMENT; SQLite only auto-numbers an INTEGER PRIMARY
-- KEY, so a member stored without a uniqueid gets its rowid.
CREATE TRIGGER IF NOT EXISTS queue_members_uniqueid AFTER INSERT ON queue_members
    WHEN NEW.uniqueid IS NULL
BEGIN
    UPDATE queue_members SET uniqueid = NEW.rowid WHERE rowid = NEW.rowid;
END
;
-- table: ast_config
-- Static mode (extconfig.conf: file.conf => sqlite3,db,ast_config), the layout of Asterisk's
-- documentation: one row per variable.
CREATE TABLE IF NOT EXISTS ast_config (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    cat_metric INTEGER NOT NULL DEFAULT 0,
    var_metric INTEGER NOT NULL DEFAULT 0,
    commented INTEGER NOT NULL DEFAULT 0,
    filename VARCHAR(128) NOT NULL DEFAULT '',
    category VARCHAR(128) NOT NULL DEFAULT 'default',
    var_name VARCHAR(128) NOT NULL DEFAULT '',
    var_val VARCHAR(128) NOT NULL DEFAULT ''
)
;
CREATE INDEX IF NOT EXISTS ast_config_filename_commented ON ast_config (filename, commented)
;
