//! The attribute paths a Jinja2 template reads below its root variables (`obj` of a computed
//! field): `{{ obj.location.parent.name }}` reads `obj.location.parent.name`, and through loops
//! and assignments, `{% for i in obj.interfaces.all() %}{{ i.status }}{% endfor %}` reads
//! `obj.interfaces.status`. What a template reads can then be loaded before it runs, for a
//! whole list at once.
//!
//! The template is parsed with minijinja's own parser (its `unstable_machinery` API, pinned by
//! the lock file) and walked once. A path that ends where the template uses a value whole
//! (prints it, passes it to a filter or a call) reads the value whole.

use std::collections::HashMap;

use minijinja::machinery::ast::{CallArg, Expr, Stmt};

/// A path of attribute names, its root variable first (`["obj", "location", "name"]`).
pub type Path = Vec<String>;

/// Methods of a Django related manager or a list that give its items (`obj.tags.all()`):
/// the path stays the list's.
const ITEMS: [&str; 3] = ["all", "first", "last"];

/// Methods that read a list but none of its items' fields (`obj.tags.count()`).
const WHOLE: [&str; 2] = ["count", "exists"];

/// Filters whose result is items of their input (`| first`, `| sort(attribute="name")`).
const SAME_ITEMS: [&str; 10] = [
    "first",
    "last",
    "list",
    "sort",
    "reverse",
    "unique",
    "selectattr",
    "rejectattr",
    "select",
    "reject",
];

/// The paths below `roots` the template `source` reads; an error when it does not parse.
pub fn paths(source: &str, roots: &[&str]) -> Result<Vec<Path>, String> {
    let ast =
        minijinja::machinery::parse(source, "template", Default::default(), Default::default())
            .map_err(|e| e.to_string())?;
    let mut walker = Walker { roots, scopes: vec![HashMap::new()], out: Vec::new() };
    walker.stmt(&ast);
    walker.out.sort();
    walker.out.dedup();
    Ok(walker.out)
}

struct Walker<'s, 'r> {
    roots: &'r [&'r str],
    /// Names bound in each open scope: to a path below a root, or to anything else (`None`).
    scopes: Vec<HashMap<&'s str, Option<Path>>>,
    out: Vec<Path>,
}

impl<'s> Walker<'s, '_> {
    fn stmt(&mut self, stmt: &Stmt<'s>) {
        match stmt {
            Stmt::Template(t) => self.body(&t.children),
            Stmt::EmitExpr(e) => self.use_whole(&e.expr),
            Stmt::EmitRaw(_) => {}
            Stmt::ForLoop(f) => {
                let items = self.path(&f.iter);
                self.scopes.push(HashMap::new());
                self.bind(&f.target, items);
                if let Some(filter) = &f.filter_expr {
                    self.use_whole(filter);
                }
                self.body(&f.body);
                self.scopes.pop();
                self.body(&f.else_body);
            }
            Stmt::IfCond(c) => {
                self.use_whole(&c.expr);
                self.body(&c.true_body);
                self.body(&c.false_body);
            }
            Stmt::WithBlock(w) => {
                self.scopes.push(HashMap::new());
                for (target, value) in &w.assignments {
                    let path = self.path(value);
                    self.bind(target, path);
                }
                self.body(&w.body);
                self.scopes.pop();
            }
            Stmt::Set(s) => {
                let path = self.path(&s.expr);
                self.bind(&s.target, path);
            }
            Stmt::SetBlock(s) => {
                if let Some(filter) = &s.filter {
                    self.use_whole(filter);
                }
                self.body(&s.body);
                self.bind(&s.target, None);
            }
            Stmt::AutoEscape(a) => {
                self.use_whole(&a.enabled);
                self.body(&a.body);
            }
            Stmt::FilterBlock(f) => {
                self.use_whole(&f.filter);
                self.body(&f.body);
            }
            Stmt::Do(d) => self.call(&d.call.expr, &d.call.args),
            Stmt::Macro(m) => {
                // A macro's arguments are not known where it is declared: its body sees the
                // roots, and its own names hide them.
                self.scopes.push(HashMap::new());
                for arg in &m.args {
                    self.bind(arg, None);
                }
                m.defaults.iter().for_each(|d| self.use_whole(d));
                self.body(&m.body);
                self.scopes.pop();
            }
            Stmt::CallBlock(c) => {
                self.call(&c.call.expr, &c.call.args);
                self.body(&c.macro_decl.body);
            }
            // Another template (`include`, `extends`, `import`) is none of this template's:
            // computed fields are one template each.
            _ => {}
        }
    }

    fn body(&mut self, stmts: &[Stmt<'s>]) {
        for stmt in stmts {
            self.stmt(stmt);
        }
    }

    /// Binds an assignment target (a name, or a tuple of names, which get nothing known).
    fn bind(&mut self, target: &Expr<'s>, path: Option<Path>) {
        match target {
            Expr::Var(v) => {
                if let Some(scope) = self.scopes.last_mut() {
                    scope.insert(v.id, path);
                }
            }
            Expr::List(l) => l.items.iter().for_each(|item| self.bind(item, None)),
            _ => {}
        }
    }

    fn lookup(&self, name: &str) -> Option<Path> {
        for scope in self.scopes.iter().rev() {
            if let Some(bound) = scope.get(name) {
                return bound.clone();
            }
        }
        self.roots.contains(&name).then(|| vec![name.to_owned()])
    }

    /// An expression whose value the template uses as it is: the path it names is read whole.
    fn use_whole(&mut self, expr: &Expr<'s>) {
        if let Some(path) = self.path(expr) {
            self.out.push(path);
        }
    }

    /// The path an expression names below a root, if it names one; what it reads on the way
    /// (arguments, subscripts, operands) is recorded.
    fn path(&mut self, expr: &Expr<'s>) -> Option<Path> {
        match expr {
            Expr::Var(v) => self.lookup(v.id),
            Expr::GetAttr(g) => {
                let mut path = self.path(&g.expr)?;
                path.push(g.name.to_owned());
                Some(path)
            }
            Expr::GetItem(g) => {
                let base = self.path(&g.expr);
                match (&g.subscript_expr, base) {
                    // `obj["name"]` is `obj.name`.
                    (Expr::Const(c), Some(mut path)) if c.value.as_str().is_some() => {
                        path.push(c.value.as_str().unwrap_or_default().to_owned());
                        Some(path)
                    }
                    // `items[0]`: an item of the list.
                    (Expr::Const(_), base) => base,
                    // A computed key: any attribute, so the whole value.
                    (subscript, base) => {
                        self.use_whole(subscript);
                        if let Some(path) = base {
                            self.out.push(path);
                        }
                        None
                    }
                }
            }
            Expr::Slice(s) => {
                for bound in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                    self.use_whole(bound);
                }
                self.path(&s.expr)
            }
            Expr::Call(c) => {
                if let Expr::GetAttr(g) = &c.expr {
                    if c.args.is_empty() && ITEMS.contains(&g.name) {
                        return self.path(&g.expr);
                    }
                    if c.args.is_empty() && WHOLE.contains(&g.name) {
                        // The list is read, none of its items' fields: the method's name stands
                        // below it as an attribute no model has.
                        if let Some(mut path) = self.path(&g.expr) {
                            path.push(g.name.to_owned());
                            self.out.push(path);
                        }
                        return None;
                    }
                }
                self.call(&c.expr, &c.args);
                None
            }
            Expr::Filter(f) => {
                let base = f.expr.as_ref().and_then(|e| self.path(e));
                let attribute = f.args.iter().find_map(|a| match a {
                    CallArg::Kwarg("attribute", Expr::Const(c)) => {
                        c.value.as_str().map(str::to_owned)
                    }
                    _ => None,
                });
                let positional = f.args.iter().find_map(|a| match a {
                    CallArg::Pos(Expr::Const(c)) => c.value.as_str().map(str::to_owned),
                    _ => None,
                });
                for arg in &f.args {
                    self.arg(arg);
                }
                let base = base?;
                // The attribute a filter reads of each item.
                let read = match f.name {
                    "selectattr" | "rejectattr" => positional,
                    "map" | "sort" | "groupby" | "sum" | "unique" | "min" | "max" => attribute,
                    _ => None,
                };
                match (f.name, read) {
                    ("map", Some(name)) => {
                        let mut path = base;
                        path.push(name);
                        Some(path)
                    }
                    (name, Some(attr)) if SAME_ITEMS.contains(&name) => {
                        let mut read = base.clone();
                        read.push(attr);
                        self.out.push(read);
                        Some(base)
                    }
                    (name, _) if SAME_ITEMS.contains(&name) => Some(base),
                    (_, Some(attr)) => {
                        let mut read = base;
                        read.push(attr);
                        self.out.push(read);
                        None
                    }
                    _ => {
                        self.out.push(base);
                        None
                    }
                }
            }
            Expr::Test(t) => {
                self.use_whole(&t.expr);
                t.args.iter().for_each(|a| self.arg(a));
                None
            }
            Expr::UnaryOp(u) => {
                self.use_whole(&u.expr);
                None
            }
            Expr::BinOp(b) => {
                self.use_whole(&b.left);
                self.use_whole(&b.right);
                None
            }
            Expr::Compare(c) => {
                self.use_whole(&c.expr);
                c.ops.iter().for_each(|op| self.use_whole(&op.expr));
                None
            }
            Expr::IfExpr(i) => {
                self.use_whole(&i.test_expr);
                self.use_whole(&i.true_expr);
                if let Some(e) = &i.false_expr {
                    self.use_whole(e);
                }
                None
            }
            Expr::List(l) => {
                l.items.iter().for_each(|e| self.use_whole(e));
                None
            }
            Expr::Map(m) => {
                m.keys.iter().chain(&m.values).for_each(|e| self.use_whole(e));
                None
            }
            Expr::Const(_) => None,
        }
    }

    /// A call of something other than a list's methods: what it is called on, and its
    /// arguments, are used whole.
    fn call(&mut self, callee: &Expr<'s>, args: &[CallArg<'s>]) {
        self.use_whole(callee);
        args.iter().for_each(|a| self.arg(a));
    }

    fn arg(&mut self, arg: &CallArg<'s>) {
        match arg {
            CallArg::Pos(e)
            | CallArg::Kwarg(_, e)
            | CallArg::PosSplat(e)
            | CallArg::KwargSplat(e) => self.use_whole(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(source: &str) -> Vec<String> {
        paths(source, &["obj"]).unwrap().iter().map(|p| p.join(".")).collect()
    }

    #[test]
    fn paths_follow_loops_assignments_and_filters() {
        let table: &[(&str, &[&str])] = &[
            ("{{ obj.name }}", &["obj.name"]),
            ("{{ obj.location.parent.name | upper }}", &["obj.location.parent.name"]),
            ("{{ obj }}", &["obj"]),
            ("{{ obj['serial'] }}", &["obj.serial"]),
            (
                "{% for i in obj.interfaces.all() %}{{ i.name }} {{ i.status }}{% endfor %}",
                &["obj.interfaces.name", "obj.interfaces.status"],
            ),
            (
                "{% for i in obj.interfaces.all() %}{% for ip in i.ip_addresses.all() %}{{ ip.address }}{% endfor %}{% endfor %}",
                &["obj.interfaces.ip_addresses.address"],
            ),
            ("{% set l = obj.location %}{{ l.name }}", &["obj.location.name"]),
            ("{% with p = obj.location.parent %}{{ p }}{% endwith %}", &["obj.location.parent"]),
            ("{{ obj.tags.count() }}", &["obj.tags.count"]),
            ("{{ obj.tags.all() | join(', ') }}", &["obj.tags"]),
            ("{{ obj.tags.all() | map(attribute='name') | join('+') }}", &["obj.tags.name"]),
            ("{{ obj.interfaces.all() | selectattr('enabled') | list | length }}", &["obj.interfaces", "obj.interfaces.enabled"]),
            ("{{ obj.interfaces.first().name }}", &["obj.interfaces.name"]),
            ("{% if obj.tenant %}{{ obj.tenant.name }}{% endif %}", &["obj.tenant", "obj.tenant.name"]),
            ("{{ obj.cf.owner or 'none' }}", &["obj.cf.owner"]),
            // A loop variable hides the root; other variables are none of the object's.
            ("{% for obj in [1, 2] %}{{ obj.name }}{% endfor %}{{ other.name }}", &[]),
            ("{{ obj[key] }}", &["obj"]),
            ("{{ obj.name.upper() }}", &["obj.name.upper"]),
        ];
        for (source, want) in table {
            assert_eq!(read(source), *want, "{source}");
        }
        assert!(paths("{% if %}", &["obj"]).is_err());
    }
}
