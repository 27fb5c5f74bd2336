use crate::output::text;
use crate::GlobalArgs;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum ServiceCommand {
    /// Register a service; prints its one-time enrollment token (bound to the allowed names).
    #[command(
        after_help = "Example:\n  vcc-pki service register veritas-backend --name 'VERITAS Backend' --endpoints https://veritas.vcc.local:8001 --allowed-dns veritas.vcc.local"
    )]
    Register {
        service_id: String,
        #[arg(long)]
        name: String,
        #[arg(long, num_args = 1..)]
        endpoints: Vec<String>,
        /// DNS names the service may get (default: its service id).
        #[arg(long, num_args = 1..)]
        allowed_dns: Vec<String>,
        /// IP addresses the service may get.
        #[arg(long, num_args = 1..)]
        allowed_ip: Vec<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// The registry as a table.
    #[command(after_help = "Example:\n  vcc-pki service list --output json")]
    List,
    /// One service's record.
    #[command(after_help = "Example:\n  vcc-pki service info veritas-backend")]
    Info { service_id: String },
}

pub async fn run(cmd: ServiceCommand, g: &GlobalArgs) -> anyhow::Result<()> {
    let out = g.output();
    let client = g.client()?;
    match cmd {
        ServiceCommand::Register {
            service_id,
            name,
            endpoints,
            allowed_dns,
            allowed_ip,
            description,
        } => {
            let body = vcc_pki_proto::RegisterRequest {
                service_id: service_id.clone(),
                service_name: name,
                endpoints,
                allowed_dns,
                allowed_ip,
                description,
                enrollment_ttl_hours: None,
            };
            let svc = client.send_request("/api/services/register", &body).await?;
            if out.json() {
                out.print_json(&svc);
                return Ok(());
            }
            out.success(&format!("Service '{service_id}' registered"));
            out.fields(&[
                ("Name", text(&svc, "service_name")),
                ("Endpoints", text(&svc, "endpoints")),
                ("Allowed DNS", text(&svc, "allowed_dns")),
                ("Allowed IP", text(&svc, "allowed_ip")),
                ("Enrollment token", text(&svc, "enrollment_token")),
                ("Token expires", text(&svc, "enrollment_expires_at")),
            ]);
            println!(
                "{}",
                out.dim(
                    "The enrollment token is shown once; it buys the service's first certificate."
                )
            );
        }
        ServiceCommand::List => {
            let page = client.get("/api/services?limit=1000").await?;
            if out.json() {
                out.print_json(&page);
                return Ok(());
            }
            let rows = page["items"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|s| {
                    vec![
                        text(s, "service_id"),
                        text(s, "service_name"),
                        text(s, "endpoints"),
                        text(s, "allowed_dns"),
                        text(s, "created_at"),
                    ]
                })
                .collect();
            out.table(
                &[
                    "Service ID",
                    "Name",
                    "Endpoints",
                    "Allowed DNS",
                    "Registered",
                ],
                rows,
            );
        }
        ServiceCommand::Info { service_id } => {
            let svc = client.get(&format!("/api/services/{service_id}")).await?;
            if out.json() {
                out.print_json(&svc);
                return Ok(());
            }
            out.heading(&format!("Service {service_id}"));
            out.fields(&[
                ("Name", text(&svc, "service_name")),
                ("Description", text(&svc, "description")),
                ("Endpoints", text(&svc, "endpoints")),
                ("Allowed DNS", text(&svc, "allowed_dns")),
                ("Allowed IP", text(&svc, "allowed_ip")),
                ("Enrollment used", text(&svc, "enrollment_used_at")),
                ("Registered", text(&svc, "created_at")),
                ("Updated", text(&svc, "updated_at")),
            ]);
        }
    }
    Ok(())
}
