package dialplan

import "github.com/pleiades-pbx/pleiades/internal/dialplan/expr"

// The expression package, behind names of this package's own.
var (
	substitute   = expr.Substitute
	splitArgs    = expr.SplitArgs
	splitAppData = expr.SplitAppData
	splitFunc    = expr.SplitFunction
)
