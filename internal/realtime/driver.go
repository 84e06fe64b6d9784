package realtime

import (
	"context"
	"errors"
	"strings"

	"github.com/pleiades-pbx/pleiades/internal/conf"
)

// Errors every driver and the engine use. Callers test them with errors.Is.
var (
	// ErrNotFound means the query ran and matched no row: an answer, never a reason to fail over.
	ErrNotFound = errors.New("realtime: no rows found")
	// ErrUnavailable means the backend could not be reached (connect failed, connection lost,
	// negative connection cache in force). The engine fails over to the next mapping on it.
	ErrUnavailable = errors.New("realtime: backend unavailable")
	// ErrUnknownField means a field named in a call is not a column of the table; it is never sent.
	ErrUnknownField = errors.New("realtime: unknown field")
	// ErrNoMapping means no mapping in extconfig.conf names the family.
	ErrNoMapping = errors.New("realtime: family not mapped")
	// ErrUnknownDatabase means a mapping names a connection the driver's config does not define.
	ErrUnknownDatabase = errors.New("realtime: unknown database")
)

// Field is one name/value pair. In a lookup, Name may end with an operator separated by a
// space: "name LIKE", "regseconds >", ">=", "<", "<=", "!=", "="; the default is "=".
type Field struct {
	Name  string
	Value string
}

// SplitOp splits a lookup field name into column and SQL operator ("=" when none is given).
// ok is false for an operator that is not allowed.
func SplitOp(name string) (col, op string, ok bool) {
	name = strings.TrimSpace(name)
	i := strings.IndexByte(name, ' ')
	if i < 0 {
		return name, "=", true
	}
	col, op = name[:i], strings.ToUpper(strings.TrimSpace(name[i+1:]))
	switch op {
	case "=", "!=", "<>", "<", ">", "<=", ">=", "LIKE", "NOT LIKE":
		return col, op, true
	}
	return col, op, false
}

// Row is one row as ordered name/value pairs, in the table's column order. NULL and empty
// columns are left out: every driver returns this same shape.
type Row []Field

// Get returns the value of the column named name (case-insensitive).
func (r Row) Get(name string) (string, bool) {
	for _, f := range r {
		if strings.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// ColumnType is the kind of column a consumer requires (Asterisk's RQ_* types).
type ColumnType int

// Column types for Require.
const (
	TypeChar ColumnType = iota
	TypeInteger
	TypeUnsignedInteger
	TypeFloat
	TypeDate
	TypeDateTime
)

// Requirement is one column a consumer needs: Require reports or fixes a missing or too small one
// according to the driver's requirements= setting (warn, createclose, createchar).
type Requirement struct {
	Name string
	Type ColumnType
	Size int
}

// StaticRow is one row of a static-mode table (ast_config layout): the engine builds a
// conf.Config from them. A row whose Name is "#include" includes the file named in Value.
type StaticRow struct {
	CatMetric int
	VarMetric int
	Category  string
	Name      string
	Value     string
}

// Driver is one storage backend (sqlite3, pgsql, mysql, odbc, ...). db names a connection
// defined in the driver's own configuration file, table the table. Every call honours ctx.
// Connection failures are wrapped with ErrUnavailable; "no rows" from Load is ErrNotFound;
// counts from LoadMulti/Update/Update2/Store/Destroy are plain results (0 is not an error).
type Driver interface {
	// Name is the name extconfig.conf uses ("pgsql").
	Name() string
	// ConfigFile is the driver's own configuration file ("res_pgsql.conf").
	ConfigFile() string
	// Configure applies the driver's configuration (nil: the file does not exist). It is called
	// at load and at every reload; on error the running configuration stays.
	Configure(ctx context.Context, cfg *conf.Config) error

	Load(ctx context.Context, db, table string, fields []Field) (Row, error)
	LoadMulti(ctx context.Context, db, table string, fields []Field) ([]Row, error)
	Update(ctx context.Context, db, table, keyField, keyValue string, fields []Field) (int64, error)
	Update2(ctx context.Context, db, table string, lookup, update []Field) (int64, error)
	Store(ctx context.Context, db, table string, fields []Field) (int64, error)
	Destroy(ctx context.Context, db, table, keyField, keyValue string, fields []Field) (int64, error)
	Require(ctx context.Context, db, table string, reqs []Requirement) error
	// Unload forgets cached column metadata of the table.
	Unload(ctx context.Context, db, table string) error
	// StaticLoad returns the rows of filename from a static-mode table, uncommented only,
	// ordered cat_metric DESC, var_metric ASC, category, var_name.
	StaticLoad(ctx context.Context, db, table, filename string) ([]StaticRow, error)
	// Close releases every connection.
	Close() error
}

// DatabaseLister is implemented by a driver that can tell which connections its configuration
// defines. The engine uses it at Configure to reject a mapping that names an undefined one
// (the error names the mapping's file:line) instead of failing on the first query.
type DatabaseLister interface {
	Databases() []string
}

// ConnectionChecker is implemented by a driver that can tell whether the database field of an
// extconfig.conf mapping reaches a connection its configuration defines (mysql and odbc: a
// section of their file; pgsql, which ignores the field: res_pgsql.conf was loaded). The engine
// uses it at Configure, as it uses DatabaseLister, so that a mapping to a missing connection is
// a load error naming the mapping's file:line instead of a silent failure of every lookup.
type ConnectionChecker interface {
	HasConnection(db string) bool
}
