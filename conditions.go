package withauth

// claimConditions: one expression per route over any verified claim, in a subset of Go's
// expression syntax (parsed by go/parser at New), compiled to a tree the verification path walks
// once per verified token; the grant keeps the answer.

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
)

// The limits of an expression, so that one cannot make New or a request slow.
const (
	maxConditionBytes = 4096
	maxConditionDepth = 32
	maxConditionTerms = 64
)

// condition is a node of an expression's tree: an operator over conditions, or a function of a
// claim and string values.
type condition struct {
	op          string // "&&", "||", "!", or the function's name
	left, right *condition
	claim       claimPath
	values      []string // the function's values; SplitContains: the separator, then the value
}

// conditionArity is each function's number of arguments after the claim (-1: one or more).
var conditionArity = map[string]int{"Equals": 1, "Prefix": 1, "Contains": 1, "SplitContains": 2, "OneOf": -1}

// conditions is a compiled expression as a program in postfix order, which holds runs in one
// loop: under Yaegi a call per node of the tree would cost more than the node's work.
type conditions struct {
	steps []step
}

// step is one instruction: an operator over the results before it, or a function of a claim.
type step struct {
	op     string // "&&", "||", "!", or the function's name
	claim  *claimPath
	values []string
}

// newConditions compiles claimConditions; nil when unset.
func newConditions(expression string) (*conditions, error) {
	if strings.TrimSpace(expression) == "" {
		return nil, nil
	}
	if len(expression) > maxConditionBytes {
		return nil, fmt.Errorf("claimConditions: is %d bytes; keep it under %d (split the route, or move a list into roles or permissions)", len(expression), maxConditionBytes)
	}
	expr, err := parser.ParseExpr(expression)
	if err != nil {
		return nil, fmt.Errorf("claimConditions: %s; write calls such as Equals(\"plan\", \"pro\") with the operators &&, || and ! between them", conditionSyntaxError(err))
	}
	terms := 0
	tree, err := compileCondition(expr, 0, &terms)
	if err != nil {
		return nil, err
	}
	c := &conditions{}
	appendSteps(c, tree)
	return c, nil
}

// appendSteps writes a tree's nodes in postfix order.
func appendSteps(c *conditions, node *condition) {
	if node.left != nil {
		appendSteps(c, node.left)
	}
	if node.right != nil {
		appendSteps(c, node.right)
	}
	claim := node.claim
	c.steps = append(c.steps, step{op: node.op, claim: &claim, values: node.values})
}

// conditionSyntaxError is go/parser's error with its position as a column ("1:12: expected ')'").
func conditionSyntaxError(err error) string {
	message := err.Error()
	if rest, found := strings.CutPrefix(message, "1:"); found {
		if column, text, ok := strings.Cut(rest, ": "); ok {
			return "at column " + column + ": " + text
		}
	}
	return message
}

func compileCondition(expr ast.Expr, depth int, terms *int) (*condition, error) {
	if depth > maxConditionDepth {
		return nil, conditionError(expr, fmt.Sprintf("nests deeper than %d", maxConditionDepth), "flatten it")
	}
	switch e := expr.(type) {
	case *ast.ParenExpr:
		return compileCondition(e.X, depth+1, terms)
	case *ast.UnaryExpr:
		if e.Op != token.NOT {
			return nil, conditionError(expr, "the operator "+e.Op.String()+" is not one", "use !, && or ||")
		}
		operand, err := compileCondition(e.X, depth+1, terms)
		if err != nil {
			return nil, err
		}
		return &condition{op: "!", left: operand}, nil
	case *ast.BinaryExpr:
		if e.Op != token.LAND && e.Op != token.LOR {
			return nil, conditionError(expr, "the operator "+e.Op.String()+" is not one", "use &&, || or !, and Equals to compare")
		}
		// A chain of one operator (a || b || c) is a list, not a nesting.
		left, err := compileCondition(e.X, depth+chainStep(e.X, e.Op), terms)
		if err != nil {
			return nil, err
		}
		right, err := compileCondition(e.Y, depth+chainStep(e.Y, e.Op), terms)
		if err != nil {
			return nil, err
		}
		return &condition{op: e.Op.String(), left: left, right: right}, nil
	case *ast.CallExpr:
		*terms++
		if *terms > maxConditionTerms {
			return nil, conditionError(expr, fmt.Sprintf("has more than %d calls", maxConditionTerms), "split the route, or move a list into roles or permissions")
		}
		return compileCall(e)
	}
	return nil, conditionError(expr, "is neither a call nor &&, || or !", `write calls such as Equals("plan", "pro")`)
}

// chainStep is 0 for an operand that continues a chain of op, else 1.
func chainStep(operand ast.Expr, op token.Token) int {
	if inner, isBinary := operand.(*ast.BinaryExpr); isBinary && inner.Op == op {
		return 0
	}
	return 1
}

// compileCall compiles Function("claim", "value", …).
func compileCall(call *ast.CallExpr) (*condition, error) {
	name, isName := call.Fun.(*ast.Ident)
	if !isName {
		return nil, conditionError(call, "calls something other than a function", "use Equals, Prefix, Contains, SplitContains or OneOf")
	}
	arity, known := conditionArity[name.Name]
	if !known {
		return nil, conditionError(call, fmt.Sprintf("%s is not a function", strconv.Quote(name.Name)), "use Equals, Prefix, Contains, SplitContains or OneOf")
	}
	if call.Ellipsis.IsValid() || len(call.Args) < 2 || (arity > 0 && len(call.Args) != arity+1) {
		return nil, conditionError(call, fmt.Sprintf("%s takes %s", name.Name, conditionArguments[name.Name]), "give it those")
	}
	texts := make([]string, len(call.Args))
	for i, arg := range call.Args {
		literal, isLiteral := arg.(*ast.BasicLit)
		if !isLiteral || literal.Kind != token.STRING {
			return nil, conditionError(arg, "is not a string literal", `quote it: "admin" (numbers and booleans are compared by their JSON text, "42", "true")`)
		}
		text, err := strconv.Unquote(literal.Value)
		if err != nil {
			return nil, conditionError(arg, "is not a valid string literal", "quote it with double quotes")
		}
		texts[i] = text
	}
	if strings.TrimSpace(texts[0]) == "" {
		return nil, conditionError(call.Args[0], "names no claim", `name one, such as "plan" or "realm_access.roles"`)
	}
	return &condition{op: name.Name, claim: newClaimPath(texts[0]), values: texts[1:]}, nil
}

// conditionArguments says what each function takes.
var conditionArguments = map[string]string{
	"Equals":        "a claim and a value",
	"Prefix":        "a claim and a prefix",
	"Contains":      "a claim and a value",
	"SplitContains": "a claim, a separator and a value",
	"OneOf":         "a claim and one or more values",
}

// conditionError names the position (column) of what is refused, and the fix.
func conditionError(node ast.Node, problem, fix string) error {
	return fmt.Errorf("claimConditions: at column %d: %s; %s", node.Pos(), strings.TrimSpace(problem), fix)
}

// holds evaluates the conditions over verified claims. An absent claim, null, an object, or a
// list where a string is compared, never matches.
func holds(c *conditions, claims map[string]interface{}) bool {
	results := make([]bool, 0, len(c.steps))
	for i := range c.steps {
		s := &c.steps[i]
		last := len(results) - 1
		switch s.op {
		case "&&":
			results[last-1] = results[last-1] && results[last]
			results = results[:last]
			continue
		case "||":
			results[last-1] = results[last-1] || results[last]
			results = results[:last]
			continue
		case "!":
			results[last] = !results[last]
			continue
		}
		value, found := claims[s.claim.name] // lookupClaim, its top-level read inlined
		if !found {
			value, found = nestedClaim(*s.claim, claims)
		}
		text, isString := value.(string)
		met := false
		switch {
		case !found:
		case isString && s.op == "Equals":
			met = text == s.values[0]
		default:
			met = holdsFor(s, value)
		}
		results = append(results, met)
	}
	return results[0]
}

// holdsFor is one function of a claim's value, past holds' common case (Equals of a string).
func holdsFor(s *step, value interface{}) bool {
	if list, isList := value.([]interface{}); isList {
		if s.op != "Contains" {
			return false
		}
		for _, item := range list {
			if text, ok := scalarText(item); ok && text == s.values[0] {
				return true
			}
		}
		return false
	}
	text, isScalar := scalarText(value)
	if !isScalar {
		return false
	}
	switch s.op {
	case "Equals":
		return text == s.values[0]
	case "Prefix":
		return strings.HasPrefix(text, s.values[0])
	case "Contains":
		return strings.Contains(text, s.values[0])
	case "SplitContains":
		for _, item := range strings.Split(text, s.values[0]) {
			if item == s.values[1] {
				return true
			}
		}
		return false
	}
	for _, want := range s.values { // OneOf
		if text == want {
			return true
		}
	}
	return false
}

// scalarText is a string claim, or a number or a boolean by its JSON text.
func scalarText(value interface{}) (string, bool) {
	switch v := value.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case json.Number: // its digits as written
		return v.String(), true
	}
	return "", false
}
