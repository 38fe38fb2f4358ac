//! What a component imports and exports, and whether this host can run it (`gamecode inspect`).

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

use crate::error::LoadError;
use crate::wit;

/// One import or export of a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldItem {
    /// The full name, e.g. `gamecode:plugin/chat@0.1.0` or `wasi:cli/stdout@0.2.3`.
    pub name: String,
    /// `interface`, `function`, `type`, `resource`, `module` or `component`.
    pub kind: &'static str,
    /// The functions of an interface, or the function itself.
    pub functions: Vec<String>,
    /// Who provides (for imports) or consumes (for exports) it.
    pub role: ItemRole,
}

/// How this host relates to an import or export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemRole {
    /// A gamecode interface (`gamecode:plugin/...`), with its version.
    Gamecode { version: Option<String> },
    /// A WASI 0.2 interface: linked, but sandboxed (no files, env or sockets).
    Wasi,
    /// Something else: the host provides no such import, and ignores such an export.
    Other,
}

/// A component's world and this host's verdict on it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Inspection {
    pub imports: Vec<WorldItem>,
    pub exports: Vec<WorldItem>,
    /// The WIT version the plugin targets (by its agent export), if any this host knows.
    pub targets: Option<wit::WitVersion>,
    /// The exact package of that version (`gamecode:plugin@0.2.1`).
    pub package: Option<String>,
    /// `Ok` when the host can run it; otherwise why not.
    pub runnable: Result<(), LoadError>,
}

impl Inspection {
    /// A human-readable report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let served: Vec<String> = wit::WitVersion::ALL
            .iter()
            .flat_map(|v| v.releases())
            .map(|r| format!("gamecode:plugin@{r}"))
            .collect();
        out.push_str(&format!(
            "host world: gamecode:plugin/plugin (packages {})\n",
            served.join(", ")
        ));
        out.push_str(&match &self.package {
            Some(package) => format!("plugin targets: {package}\n"),
            None => "plugin targets: no gamecode version this host knows\n".into(),
        });
        for (title, items) in [("imports", &self.imports), ("exports", &self.exports)] {
            out.push_str(&format!("\n{title} ({}):\n", items.len()));
            if items.is_empty() {
                out.push_str("  (none)\n");
            }
            for item in items.iter() {
                let note = match &item.role {
                    ItemRole::Gamecode { version } => format!(
                        "gamecode interface, version {}",
                        version.as_deref().unwrap_or("unversioned")
                    ),
                    ItemRole::Wasi => "WASI (sandboxed: no files, env or sockets)".into(),
                    ItemRole::Other if title == "imports" => "not provided by this host".into(),
                    ItemRole::Other => "not used by this host".into(),
                };
                out.push_str(&format!("  {} [{}] — {}\n", item.name, item.kind, note));
                if !item.functions.is_empty() && matches!(item.role, ItemRole::Gamecode { .. }) {
                    out.push_str(&format!("      functions: {}\n", item.functions.join(", ")));
                }
            }
        }
        out.push('\n');
        match &self.runnable {
            Ok(()) => out.push_str("runnable: yes — this host can run this plugin\n"),
            Err(e) => out.push_str(&format!("runnable: no — {e}\n")),
        }
        out
    }
}

fn role(name: &str) -> ItemRole {
    if let Some(rest) = name.strip_prefix("gamecode:") {
        let version = rest.split_once('@').map(|(_, v)| v.to_string());
        ItemRole::Gamecode { version }
    } else if name.starts_with("wasi:") {
        ItemRole::Wasi
    } else {
        ItemRole::Other
    }
}

fn item(engine: &Engine, name: &str, ty: &ComponentItem) -> WorldItem {
    let (kind, functions) = match ty {
        ComponentItem::ComponentInstance(inst) => (
            "interface",
            inst.exports(engine)
                .filter(|(_, t)| matches!(t.ty, ComponentItem::ComponentFunc(_)))
                .map(|(n, _)| n.to_string())
                .collect(),
        ),
        ComponentItem::ComponentFunc(_) => ("function", vec![name.to_string()]),
        ComponentItem::CoreFunc(_) => ("core function", Vec::new()),
        ComponentItem::Module(_) => ("module", Vec::new()),
        ComponentItem::Component(_) => ("component", Vec::new()),
        ComponentItem::Type(_) => ("type", Vec::new()),
        ComponentItem::Resource(_) => ("resource", Vec::new()),
    };
    WorldItem {
        name: name.to_string(),
        kind,
        functions,
        role: role(name),
    }
}

pub(crate) fn describe(
    engine: &Engine,
    component: &Component,
    runnable: Result<(), LoadError>,
) -> Inspection {
    let ty = component.component_type();
    let found = wit::WitVersion::of(engine, &ty);
    Inspection {
        targets: found.map(|(version, _)| version),
        package: found.map(|(_, release)| format!("gamecode:plugin@{release}")),
        imports: ty
            .imports(engine)
            .map(|(n, t)| item(engine, n, &t.ty))
            .collect(),
        exports: ty
            .exports(engine)
            .map(|(n, t)| item(engine, n, &t.ty))
            .collect(),
        runnable,
    }
}
