// Package sub is another package of the constructs module: CrossPackageFunction calls into it,
// as withauth calls its token core (internal/jose).
package sub

// Function is constructs.function, in another package.
func Function(x int) int { return x + 1 }

// Parsed is a small result, as a parse function returns one.
type Parsed struct {
	Kid string
	Exp int64
}

// Parse returns a pointer to a new value, as a parser does.
func Parse(x int) *Parsed { return &Parsed{Kid: "k", Exp: int64(x)} }
