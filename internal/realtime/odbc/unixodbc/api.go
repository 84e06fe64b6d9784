package unixodbc

// ODBC constants and structures (sql.h, sqlext.h, sqltypes.h of unixODBC on a 64-bit
// platform, where SQLLEN and SQLULEN are 64 bits wide and SQLWCHAR is 16 bits).

const (
	sqlHandleEnv  = 1
	sqlHandleDbc  = 2
	sqlHandleStmt = 3

	sqlSuccess         = 0
	sqlSuccessWithInfo = 1
	sqlNoData          = 100

	sqlAttrODBCVersion = 200
	sqlOVODBC3         = 3
	sqlAttrAutocommit  = 102
	sqlAutocommitOff   = 0
	sqlAutocommitOn    = 1
	sqlAttrAccessMode  = 101
	sqlModeReadWrite   = 0
	sqlModeReadOnly    = 1
	sqlAttrTxnIsol     = 108
	sqlIsUInteger      = -5

	sqlDriverNoPrompt = 0
	sqlNTS            = -3
	sqlNullData       = -1
	sqlNoTotal        = -4

	sqlCommit   = 0
	sqlRollback = 1

	sqlParamInput = 1
	sqlClose      = 0

	sqlTxnReadUncommitted = 1
	sqlTxnReadCommitted   = 2
	sqlTxnRepeatableRead  = 4
	sqlTxnSerializable    = 8
)

// SQL data types (what SQLDescribeCol reports).
const (
	sqlUnknownType   = 0
	sqlChar          = 1
	sqlNumeric       = 2
	sqlDecimal       = 3
	sqlInteger       = 4
	sqlSmallint      = 5
	sqlFloat         = 6
	sqlReal          = 7
	sqlDouble        = 8
	sqlDate          = 9 // ODBC 2
	sqlTime          = 10
	sqlTimestamp     = 11
	sqlVarchar       = 12
	sqlTypeDate      = 91
	sqlTypeTime      = 92
	sqlTypeTimestamp = 93
	sqlLongVarchar   = -1
	sqlBinary        = -2
	sqlVarbinary     = -3
	sqlLongVarbinary = -4
	sqlBigint        = -5
	sqlTinyint       = -6
	sqlBit           = -7
	sqlWChar         = -8
	sqlWVarchar      = -9
	sqlWLongVarchar  = -10
	sqlGUID          = -11
	sqlSSTime2       = -154 // SQL Server TIME(n)
)

// C data types (how a value is read into or sent from Go memory).
const (
	sqlCChar          = 1
	sqlCWChar         = -8
	sqlCSBigint       = -25
	sqlCDouble        = 8
	sqlCBit           = -7
	sqlCBinary        = -2
	sqlCTypeDate      = 91
	sqlCTypeTime      = 92
	sqlCTypeTimestamp = 93
	sqlCGUID          = -11
)

type sqlDateStruct struct {
	Year  int16
	Month uint16
	Day   uint16
}

type sqlTimeStruct struct {
	Hour   uint16
	Minute uint16
	Second uint16
}

type sqlTimestampStruct struct {
	Year     int16
	Month    uint16
	Day      uint16
	Hour     uint16
	Minute   uint16
	Second   uint16
	Fraction uint32 // nanoseconds
}

type sqlGUIDStruct struct {
	Data1 uint32
	Data2 uint16
	Data3 uint16
	Data4 [8]byte
}
