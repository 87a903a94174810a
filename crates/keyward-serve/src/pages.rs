//! The HTML pages: a server-rendered shell per page, whose panels the
//! browser script fills from the JSON API.
//!
//! Every value that reaches HTML here goes through [`escape`]; the script
//! writes values from AWS with `textContent` only.

use std::fmt::Write as _;

/// A panel of a page, by the kind of content it shows.
#[derive(Clone, Copy, Debug)]
pub enum Panel {
    /// A chart drawn from the page's dashboard data.
    Chart {
        /// Element id, which the script looks up.
        id: &'static str,
        /// Heading.
        title: &'static str,
    },
    /// A key figure from the page's dashboard data.
    Figure {
        /// Element id, which the script looks up.
        id: &'static str,
        /// Heading.
        title: &'static str,
    },
    /// A table that pages and sorts through `/api/tables/{name}`, or
    /// through a route of its own for `findings` and `quantum-assets`.
    Table {
        /// Table name in the API.
        name: &'static str,
        /// Heading.
        title: &'static str,
    },
    /// A pivot of calls by account, Region and operation, with subtotals.
    Pivot {
        /// Element id, which the script looks up.
        id: &'static str,
        /// Heading.
        title: &'static str,
    },
}

/// A page of the web app.
#[derive(Debug)]
pub struct Page {
    /// Name in `data-page`, which the script dispatches on.
    pub name: &'static str,
    /// Path of the page.
    pub path: &'static str,
    /// Title and navigation label.
    pub title: &'static str,
    /// Whether the page is listed in the navigation.
    pub in_navigation: bool,
    /// Panels, in order.
    pub panels: &'static [Panel],
}

/// Every page.
pub static PAGES: [Page; 7] = [
    Page {
        name: "overview",
        path: "/",
        title: "Overview",
        in_navigation: true,
        panels: &[
            Panel::Figure {
                id: "status",
                title: "Store",
            },
            Panel::Figure {
                id: "savings",
                title: "Estimated monthly savings",
            },
            Panel::Chart {
                id: "assets",
                title: "Assets by service and state",
            },
            Panel::Chart {
                id: "severities",
                title: "Open findings by severity",
            },
            Panel::Chart {
                id: "trend",
                title: "Failing findings and unused assets per check",
            },
        ],
    },
    Page {
        name: "kms",
        path: "/kms",
        title: "KMS",
        in_navigation: true,
        panels: &[
            Panel::Figure {
                id: "kms-unused",
                title: "Unused keys",
            },
            Panel::Chart {
                id: "kms-rotation",
                title: "Keys without automatic rotation, per account and Region",
            },
            Panel::Chart {
                id: "kms-operations",
                title: "Cryptographic operations",
            },
            Panel::Chart {
                id: "kms-denied",
                title: "Principals denied KMS access, by operation",
            },
            Panel::Table {
                name: "kms-denied",
                title: "Denied calls",
            },
            Panel::Table {
                name: "kms-active-principals",
                title: "Most active principals",
            },
            Panel::Table {
                name: "kms-top-keys",
                title: "Ten most used keys",
            },
            Panel::Table {
                name: "kms-unused-keys",
                title: "Unused keys",
            },
            Panel::Table {
                name: "kms-keys",
                title: "Keys",
            },
        ],
    },
    Page {
        name: "certificates",
        path: "/certificates",
        title: "Certificates",
        in_navigation: true,
        panels: &[
            Panel::Figure {
                id: "cert-pending",
                title: "Certificates waiting for validation",
            },
            Panel::Chart {
                id: "cert-operations",
                title: "Certificate operations",
            },
            Panel::Chart {
                id: "cert-expiring",
                title: "Certificates expiring within 60 days, per account and Region",
            },
            Panel::Chart {
                id: "cert-issued",
                title: "Accounts with the most certificates issued",
            },
            Panel::Chart {
                id: "cert-revoked",
                title: "Accounts with the most certificates revoked or deleted",
            },
            Panel::Table {
                name: "certificates-expiring",
                title: "Expiring certificates",
            },
            Panel::Table {
                name: "certificates-pending-validation",
                title: "Certificates waiting for validation",
            },
            Panel::Pivot {
                id: "cert-pivot",
                title: "Operations by account and Region",
            },
            Panel::Table {
                name: "certificates",
                title: "ACM certificates",
            },
            Panel::Table {
                name: "certificate-authorities",
                title: "Private CA certificate authorities",
            },
        ],
    },
    Page {
        name: "secrets",
        path: "/secrets",
        title: "Secrets Manager",
        in_navigation: true,
        panels: &[
            Panel::Figure {
                id: "sm-unused",
                title: "Unused secrets",
            },
            Panel::Chart {
                id: "sm-operations",
                title: "API calls by operation",
            },
            Panel::Chart {
                id: "sm-denied",
                title: "Ten principals most often denied, by account",
            },
            Panel::Chart {
                id: "sm-deleted",
                title: "Secrets deleted, per account",
            },
            Panel::Table {
                name: "secrets-unused",
                title: "Unused secrets",
            },
            Panel::Table {
                name: "secrets-deleted",
                title: "Deleted secrets",
            },
            Panel::Table {
                name: "secrets-most-read",
                title: "Ten most read secrets",
            },
            Panel::Table {
                name: "secrets-without-rotation",
                title: "Secrets without rotation",
            },
            Panel::Pivot {
                id: "sm-pivot",
                title: "Operations by account and Region",
            },
            Panel::Table {
                name: "secrets-denied",
                title: "Principals denied access",
            },
            Panel::Table {
                name: "secrets",
                title: "Secrets",
            },
        ],
    },
    Page {
        name: "quantum",
        path: "/quantum",
        title: "Quantum readiness",
        in_navigation: true,
        panels: &[
            Panel::Figure {
                id: "pq-classes",
                title: "Keys and certificates by quantum class",
            },
            Panel::Chart {
                id: "pq-services",
                title: "Quantum class per service",
            },
            Panel::Chart {
                id: "pq-accounts",
                title: "Quantum class per account",
            },
            Panel::Figure {
                id: "pq-algorithms",
                title: "Algorithms in use",
            },
            Panel::Table {
                name: "quantum-assets",
                title: "Quantum-vulnerable and weakened keys and certificates",
            },
        ],
    },
    Page {
        name: "findings",
        path: "/findings",
        title: "Findings",
        in_navigation: true,
        panels: &[Panel::Table {
            name: "findings",
            title: "Findings of the latest check",
        }],
    },
    Page {
        name: "asset",
        path: "/asset",
        title: "Asset",
        in_navigation: false,
        panels: &[
            Panel::Figure {
                id: "asset-metadata",
                title: "Metadata",
            },
            Panel::Figure {
                id: "asset-policy",
                title: "Policy",
            },
            Panel::Figure {
                id: "asset-findings",
                title: "Findings",
            },
            Panel::Chart {
                id: "asset-timeline",
                title: "Calls per day",
            },
            Panel::Figure {
                id: "asset-principals",
                title: "Principals that called it",
            },
        ],
    },
];

/// Escapes text for HTML content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Renders the HTML shell of a page.
pub fn render(page: &Page) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} · keyward</title>\n\
         <link rel=\"icon\" href=\"data:,\">\n\
         <link rel=\"stylesheet\" href=\"/static/style.css\">\n\
         <script src=\"/static/vendor/echarts/echarts.min.js\" defer></script>\n\
         <script src=\"/static/app.js\" defer></script>\n\
         </head>\n<body data-page=\"{}\">\n",
        escape(page.title),
        escape(page.name)
    );
    html.push_str(&navigation(page));
    html.push_str(&filter_form(page));
    html.push_str("<main>\n<p id=\"message\" class=\"message\" hidden></p>\n");
    if page.name == "asset" {
        html.push_str("<h1 id=\"asset-title\" class=\"asset-title\"></h1>\n");
    }
    for panel in page.panels {
        html.push_str(&render_panel(panel));
    }
    html.push_str("</main>\n</body>\n</html>\n");
    html
}

fn navigation(current: &Page) -> String {
    let mut html = String::from("<header>\n<a class=\"brand\" href=\"/\">keyward</a>\n<nav>\n");
    for page in PAGES.iter().filter(|page| page.in_navigation) {
        let class = if page.name == current.name {
            " class=\"current\""
        } else {
            ""
        };
        let _ = writeln!(
            html,
            "<a href=\"{}\" data-nav{class}>{}</a>",
            escape(page.path),
            escape(page.title)
        );
    }
    html.push_str("</nav>\n</header>\n");
    html
}

/// Renders the filters of every page, plus the findings' own filters on
/// the findings page. The script fills the choices and keeps them in the
/// URL.
fn filter_form(page: &Page) -> String {
    let mut html = String::from(
        "<form id=\"filters\" class=\"filters\">\n\
         <label>Accounts <select name=\"accounts\" multiple size=\"3\"></select></label>\n\
         <label>Regions <select name=\"regions\" multiple size=\"3\"></select></label>\n\
         <label>Time window <select name=\"since\">\
         <option value=\"\">question default</option>\
         <option value=\"24h\">last 24 hours</option>\
         <option value=\"7d\">last 7 days</option>\
         <option value=\"30d\">last 30 days</option>\
         <option value=\"90d\">last 90 days</option>\
         <option value=\"365d\">last 365 days</option>\
         <option value=\"all\">all stored time</option>\
         </select></label>\n\
         <label>From <input name=\"from\" type=\"date\"></label>\n\
         <label>To <input name=\"to\" type=\"date\"></label>\n",
    );
    if page.name == "findings" {
        html.push_str(
            "<label>Rule <select name=\"rule\"><option value=\"\">any</option></select></label>\n\
             <label>Severity <select name=\"severity\"><option value=\"\">any</option>\
             <option>CRITICAL</option><option>HIGH</option><option>MEDIUM</option>\
             <option>LOW</option><option>INFORMATIONAL</option></select></label>\n\
             <label>Verdict <select name=\"verdict\"><option value=\"\">FAIL</option>\
             <option>UNKNOWN</option><option>PASS</option><option value=\"all\">all</option>\
             </select></label>\n\
             <label>Resource type <select name=\"resource_type\"><option value=\"\">any</option>\
             <option>KmsKey</option><option>Certificate</option><option>Secret</option>\
             </select></label>\n\
             <label>Resource <input name=\"resource\" type=\"search\" \
             placeholder=\"part of the ARN\"></label>\n",
        );
    }
    html.push_str(
        "<button type=\"submit\">Apply</button>\n<a href=\"?\" class=\"reset\">Reset</a>\n</form>\n",
    );
    html
}

fn render_panel(panel: &Panel) -> String {
    match *panel {
        Panel::Chart { id, title } => format!(
            "<section class=\"panel chart-panel\" id=\"{}\">\n<h2>{}</h2>\n\
             <p class=\"window\"></p>\n<div class=\"chart\" role=\"img\" \
             aria-label=\"{}\"></div>\n</section>\n",
            escape(id),
            escape(title),
            escape(title)
        ),
        Panel::Figure { id, title } => format!(
            "<section class=\"panel figure-panel\" id=\"{}\">\n<h2>{}</h2>\n\
             <div class=\"figure\"></div>\n</section>\n",
            escape(id),
            escape(title)
        ),
        Panel::Table { name, title } => format!(
            "<section class=\"panel table-panel\" id=\"table-{}\" data-table=\"{}\">\n\
             <h2>{}</h2>\n<p class=\"window\"></p>\n<div class=\"table-scroll\"><table>\
             <thead></thead><tbody></tbody></table></div>\n<div class=\"pager\"></div>\n\
             </section>\n",
            escape(name),
            escape(name),
            escape(title)
        ),
        Panel::Pivot { id, title } => format!(
            "<section class=\"panel pivot-panel\" id=\"{}\">\n<h2>{}</h2>\n\
             <p class=\"window\"></p>\n<div class=\"table-scroll\"><table class=\"pivot\">\
             <thead></thead><tbody></tbody></table></div>\n</section>\n",
            escape(id),
            escape(title)
        ),
    }
}

/// Returns the page served at `path`.
pub fn page(path: &str) -> Option<&'static Page> {
    PAGES.iter().find(|page| page.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert('x') & "y"</script>"#),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }

    #[test]
    fn pages_load_scripts_only_from_files() {
        for page in &PAGES {
            let html = render(page);
            assert!(!html.contains("<script>"), "{}", page.name);
            assert_eq!(html.matches("<script src=").count(), 2, "{}", page.name);
        }
    }

    #[test]
    fn table_panels_name_known_tables() {
        for page in &PAGES {
            for panel in page.panels {
                if let Panel::Table { name, .. } = panel
                    && !["findings", "quantum-assets"].contains(name)
                {
                    assert!(crate::tables::table(name).is_some(), "{name}");
                }
            }
        }
    }
}
