-- Pleiades realtime change notifications for PostgreSQL.
--
-- Install in the schema that holds Asterisk's realtime tables (run after postgresql_config.sql),
-- then set in res_pgsql.conf:
--
--     [general]
--     listen_channel = pleiades_realtime
--
-- Every INSERT, UPDATE or DELETE of a row sends NOTIFY pleiades_realtime with the payload
--
--     <table>:<key>
--
-- where <table> is the table's name (TG_TABLE_NAME, no schema) and <key> the row's identifying
-- value(s), several columns joined with '@':
--
--     sippeers       name                  e.g. sippeers:alice
--     voicemail      mailbox@context       e.g. voicemail:1000@default
--     extensions     exten@context         e.g. extensions:_2XX@from-internal
--     queues         name                  e.g. queues:support
--     queue_members  queue_name            e.g. queue_members:support
--
-- An UPDATE that changes the key notifies the old and the new key. NULL key columns are
-- written as empty strings. PostgreSQL delivers notifications only when the transaction
-- commits and folds identical payloads of one transaction into one. A payload is at most
-- 8000 bytes; the keys of Asterisk's schema are far shorter.
--
-- The channel name is written below in one place (pleiades_realtime); change it there and in
-- res_pgsql.conf together.

CREATE OR REPLACE FUNCTION pleiades_realtime_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    channel CONSTANT text := 'pleiades_realtime';
    newkey text;
    oldkey text;
    i integer;
BEGIN
    IF TG_OP <> 'DELETE' THEN
        newkey := '';
        FOR i IN 0 .. TG_NARGS - 1 LOOP
            IF i > 0 THEN newkey := newkey || '@'; END IF;
            newkey := newkey || COALESCE(to_jsonb(NEW) ->> TG_ARGV[i], '');
        END LOOP;
        PERFORM pg_notify(channel, TG_TABLE_NAME || ':' || newkey);
    END IF;
    IF TG_OP <> 'INSERT' THEN
        oldkey := '';
        FOR i IN 0 .. TG_NARGS - 1 LOOP
            IF i > 0 THEN oldkey := oldkey || '@'; END IF;
            oldkey := oldkey || COALESCE(to_jsonb(OLD) ->> TG_ARGV[i], '');
        END LOOP;
        IF newkey IS DISTINCT FROM oldkey THEN
            PERFORM pg_notify(channel, TG_TABLE_NAME || ':' || oldkey);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

-- One trigger per table, on the tables that exist in the search path (a table added later:
-- run the script again).
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        ('sippeers', '''name'''),
        ('voicemail', '''mailbox'', ''context'''),
        ('extensions', '''exten'', ''context'''),
        ('queues', '''name'''),
        ('queue_members', '''queue_name''')) AS v(tbl, keys)
    LOOP
        IF to_regclass(t.tbl) IS NULL THEN
            RAISE NOTICE 'pleiades_realtime_notify: no table %, skipped', t.tbl;
            CONTINUE;
        END IF;
        EXECUTE format('DROP TRIGGER IF EXISTS pleiades_realtime_notify ON %I', t.tbl);
        EXECUTE format('CREATE TRIGGER pleiades_realtime_notify AFTER INSERT OR UPDATE OR DELETE ON %I '
            'FOR EACH ROW EXECUTE PROCEDURE pleiades_realtime_notify(%s)', t.tbl, t.keys);
    END LOOP;
END
$$;
