-- The static-mode table (extconfig.conf: `extensions.conf => mysql,asterisk,ast_config`):
-- one row per variable of a configuration file, in the layout Asterisk's documentation gives.
-- Load with: mariadb asterisk < contrib/ast_config.mysql.sql
CREATE TABLE ast_config (
    id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY,
    cat_metric INTEGER NOT NULL DEFAULT 0,
    var_metric INTEGER NOT NULL DEFAULT 0,
    commented INTEGER NOT NULL DEFAULT 0,
    filename VARCHAR(128) NOT NULL DEFAULT '',
    category VARCHAR(128) NOT NULL DEFAULT 'default',
    var_name VARCHAR(128) NOT NULL DEFAULT '',
    var_val VARCHAR(128) NOT NULL DEFAULT ''
);
CREATE INDEX ast_config_filename_commented ON ast_config (filename, commented);
