package web_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestEveryErrorCodeHasAGermanMessage lists the error codes the server can send, read from its
// Go sources, and checks that the app's table (src/api.ts) has a German text for each: without
// one the app shows the instance's English message. A code is what the sources give
//   - fault.Invalidf(field, CODE, …) and fault.Malformedf/NotFoundf/Gonef/Forbiddenf/Conflictf(CODE, …),
//   - a composite literal's Code: CODE (fault.Error, respond.ErrorDetail),
//   - sendError(CODE, …) (the map feed's error messages).
//
// A code that is not a literal there must be passed through from one that is (a parameter of
// the enclosing function, or another error's .Code): anything else fails the test, so that a
// new way of making codes cannot slip past it.
func TestEveryErrorCodeHasAGermanMessage(t *testing.T) {
	codes := serverErrorCodes(t)
	if len(codes) < 60 {
		t.Fatalf("found only %d error codes in the sources; is the scan looking in the right place?", len(codes))
	}
	table := appMessages(t)
	var missing []string
	for code, where := range codes {
		if _, ok := table[code]; !ok {
			missing = append(missing, code+" ("+where+")")
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("%d error codes the server can send have no German text in web/src/api.ts:\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
	t.Logf("%d codes the server can send, %d texts in the app", len(codes), len(table))
}

var messageEntry = regexp.MustCompile(`(?m)^\s+([a-z][a-z0-9_]*):\s*$|^\s+([a-z][a-z0-9_]*):\s*"`)

// appMessages reads the keys of the messages table in src/api.ts and of the tables that parts
// fetched later add to it (addMessages).
func appMessages(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile("src/api.ts")
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := strings.Cut(string(src), "const messages: Record<string, string> = {")
	body, _, ok2 := strings.Cut(body, "\n};")
	if !ok || !ok2 {
		t.Fatal("src/api.ts has no `const messages: Record<string, string> = {…};` table")
	}
	keys := map[string]bool{}
	for _, m := range messageEntry.FindAllStringSubmatch(body, -1) {
		keys[m[1]+m[2]] = true
	}
	// A part fetched later brings the texts of the codes only it meets: addMessages({…});
	// in its module.
	more, err := filepath.Glob("src/*.ts")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range more {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		rest := string(src)
		for {
			_, after, ok := strings.Cut(rest, "\naddMessages({")
			if !ok {
				break
			}
			table, tail, ok := strings.Cut(after, "\n});")
			if !ok {
				t.Fatalf("%s: an addMessages({ without its closing \"});\" on a line of its own", name)
			}
			for _, m := range messageEntry.FindAllStringSubmatch(table, -1) {
				keys[m[1]+m[2]] = true
			}
			rest = tail
		}
	}
	return keys
}

// serverErrorCodes maps each code to the first place that makes it.
func serverErrorCodes(t *testing.T) map[string]string {
	t.Helper()
	codes := map[string]string{}
	fset := token.NewFileSet()
	for _, dir := range []string{"../instance", "../federation", "../cmd", "../internal"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testrig" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			scanFile(t, fset, f, codes)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return codes
}

// The position of the code among a constructor's arguments.
var codeArg = map[string]int{
	"Invalidf": 1, "Malformedf": 0, "NotFoundf": 0, "Gonef": 0, "Forbiddenf": 0, "Conflictf": 0, "sendError": 0,
}

func scanFile(t *testing.T, fset *token.FileSet, f *ast.File, codes map[string]string) {
	inFault := f.Name.Name == "fault"
	var params []map[string]bool // of the enclosing functions
	var visit func(n ast.Node) bool
	take := func(e ast.Expr, what string) {
		where := fset.Position(e.Pos()).String()
		switch v := e.(type) {
		case *ast.BasicLit:
			code, err := strconv.Unquote(v.Value)
			if err != nil || v.Kind != token.STRING {
				t.Errorf("%s: %s with a code that is not a string", where, what)
				return
			}
			if _, seen := codes[code]; !seen {
				rel, _ := filepath.Rel("..", fset.Position(e.Pos()).Filename)
				codes[code] = rel
			}
			return
		case *ast.Ident:
			for _, p := range params {
				if p[v.Name] {
					return // passed through: the callers' codes are scanned
				}
			}
		case *ast.SelectorExpr:
			if v.Sel.Name == "Code" {
				return // another error's code, made where it is scanned
			}
		}
		t.Errorf("%s: %s with a code the scan cannot read; give the code as a string literal", where, what)
	}
	visit = func(n ast.Node) bool {
		switch v := n.(type) {
		case *ast.FuncDecl, *ast.FuncLit:
			var ft *ast.FuncType
			var body *ast.BlockStmt
			if d, ok := v.(*ast.FuncDecl); ok {
				ft, body = d.Type, d.Body
			} else {
				l := v.(*ast.FuncLit)
				ft, body = l.Type, l.Body
			}
			ps := map[string]bool{}
			for _, fld := range ft.Params.List {
				for _, name := range fld.Names {
					ps[name.Name] = true
				}
			}
			params = append(params, ps)
			if body != nil {
				ast.Inspect(body, visit)
			}
			params = params[:len(params)-1]
			return false
		case *ast.CallExpr:
			var name string
			switch fn := v.Fun.(type) {
			case *ast.SelectorExpr:
				if x, ok := fn.X.(*ast.Ident); ok && x.Name == "fault" {
					name = fn.Sel.Name
				} else if fn.Sel.Name == "sendError" {
					name = "sendError"
				}
			case *ast.Ident:
				if inFault || fn.Name == "sendError" {
					name = fn.Name
				}
			}
			if i, ok := codeArg[name]; ok && len(v.Args) > i {
				take(v.Args[i], name)
			}
		case *ast.CompositeLit:
			for _, el := range v.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Code" {
					if typeName(v.Type) == "" {
						continue
					}
					take(kv.Value, typeName(v.Type)+"{Code: …}")
				}
			}
		}
		return true
	}
	ast.Inspect(f, visit)
}

// typeName is the name of an error type a composite literal makes, or "" for other types.
func typeName(e ast.Expr) string {
	var name string
	switch v := e.(type) {
	case *ast.Ident:
		name = v.Name
	case *ast.SelectorExpr:
		name = v.Sel.Name
	}
	if name == "Error" || name == "ErrorDetail" {
		return name
	}
	return ""
}
