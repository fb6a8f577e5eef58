//! The portal running on port 0 against a private slapd, a real SMTP sink and a fresh
//! database, plus a cookie-keeping "browser" that submits forms with their CSRF token.

use std::time::Duration;

use reqwest::StatusCode;
use roster::config::{
    ApiSettings, DatabaseSettings, LdapSettings, LifecycleSettings, MailSettings,
    MailTransportKind, Secret, SecuritySettings, ServerSettings, Settings, SmtpTls,
};
use roster::context::AppContext;
use roster::startup::Application;
use scraper::{Html, Selector};

use super::database::TestDatabase;
use super::oidc::OidcProvider;
use super::slapd::Slapd;
use super::smtp::{ReceivedMail, SmtpSink};

pub const SESSION_SECRET: &str =
    "test-session-secret-test-session-secret-test-session-secret-0123456789";
pub const GOOD_PASSWORD: &str = "plum tractor violin 42";

pub struct TestApp {
    pub address: String,
    pub context: AppContext,
    pub browser: Browser,
    pub settings: Settings,
    pub slapd: Slapd,
    pub smtp: SmtpSink,
    pub database: TestDatabase,
    /// The OpenID provider, for apps started with [`TestApp::spawn_with_sso`].
    pub oidc: Option<OidcProvider>,
}

/// Settings for a test instance: port 0, SMTP without TLS, a cheap bcrypt cost.
pub fn test_settings(slapd: &Slapd, smtp: &SmtpSink, database: &TestDatabase) -> Settings {
    Settings {
        server: ServerSettings {
            listen: "127.0.0.1:0".into(),
            public_url: String::new(),
            session_secret: Secret::new(SESSION_SECRET),
            session_secret_file: None,
            trust_forwarded_for: false,
            // Tests drain the outbox themselves (`TestApp::run_jobs`), at the times they set.
            outbox_worker: false,
            // Mail goes out in the background, as in production; `TestApp::deliver_mail`
            // waits for it.
            mail_worker: true,
        },
        database: DatabaseSettings {
            url: Secret::new(database.url.clone()),
            url_file: None,
            max_connections: 5,
            ..DatabaseSettings::default()
        },
        ldap: LdapSettings {
            url: slapd.url().into(),
            bind_dn: slapd.admin_dn().into(),
            bind_password: Secret::new(slapd.admin_password()),
            bind_password_file: None,
            base_dn: slapd.base_dn().into(),
            people_dn: slapd.people_dn().into(),
            groups_dn: slapd.groups_dn().into(),
            uid_number_min: 100_000,
            uid_number_max: 199_999,
            gid_number_min: 100_000,
            gid_number_max: 199_999,
            timeout_seconds: 2,
            login_shells: vec!["/bin/bash".into(), "/bin/zsh".into()],
            home_directory: "/home/{username}".into(),
            locked_shell: "/usr/sbin/nologin".into(),
            resources_base: "ou=resources,dc=example,dc=org".into(),
            // Tests refresh the people index themselves, at the times they set.
            index_refresh_seconds: 0,
            retry_primary_seconds: 60,
        },
        mail: MailSettings {
            transport: MailTransportKind::Smtp,
            smtp_host: smtp.host().into(),
            smtp_port: smtp.port(),
            smtp_tls: SmtpTls::None,
            smtp_username: None,
            smtp_password: Secret::default(),
            smtp_password_file: None,
            from: "Roster <roster@example.org>".into(),
            file_dir: "mail".into(),
            // Unpaced for speed; the pacing test sets its own rate.
            rate_per_minute: 60_000,
        },
        security: SecuritySettings {
            bcrypt_cost: 4,
            ..SecuritySettings::default()
        },
        // Tests run the lifecycle job themselves, at the dates they need.
        lifecycle: LifecycleSettings {
            interval_minutes: 0,
            ..LifecycleSettings::default()
        },
        api: ApiSettings::default(),
        resources: Default::default(),
        oidc: None,
        // Tests that push to a SCIM target add one and drain it themselves.
        provisioning: roster::config::ProvisioningSettings {
            reconcile_minutes: 0,
            scim: Vec::new(),
        },
        // Tests call the LDAP drift's scheduled dry run themselves.
        reconcile: roster::config::ReconcileSettings::default(),
        log: Default::default(),
        metrics: roster::config::MetricsSettings::default(),
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Starts the components, lets the test adjust the settings, then starts the portal.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        Self::spawn_on(Slapd::start, adjust).await
    }

    /// Like [`Self::spawn_with`], on a slapd seeded with these LDIF files (after the base
    /// entries) instead of the sample people: an existing directory to adopt.
    pub async fn spawn_on_directory(
        seeds: Vec<std::path::PathBuf>,
        adjust: impl FnOnce(&mut Settings),
    ) -> TestApp {
        Self::spawn_on(move || Slapd::start_with(&seeds), adjust).await
    }

    /// Like [`Self::spawn_with`], on a slapd the test started (one of a replicated pair).
    pub async fn spawn_on_slapd(slapd: Slapd, adjust: impl FnOnce(&mut Settings)) -> TestApp {
        Self::spawn_on(move || slapd, adjust).await
    }

    /// The portal on the slapd `start_slapd` starts, with its own SMTP sink and database.
    async fn spawn_on(
        start_slapd: impl FnOnce() -> Slapd + Send + 'static,
        adjust: impl FnOnce(&mut Settings),
    ) -> TestApp {
        // `TEST_LOG=1 cargo test ...` shows the portal's logs for a failing test.
        if std::env::var_os("TEST_LOG").is_some() {
            roster::telemetry::init("info", roster::config::LogFormat::Text);
        }
        let (slapd, smtp, database) = start_components(start_slapd).await;
        let mut settings = test_settings(&slapd, &smtp, &database);
        adjust(&mut settings);
        let (address, context) = start_instance(settings.clone()).await;
        TestApp {
            browser: Browser::new(&address),
            address,
            context,
            settings,
            slapd,
            smtp,
            database,
            oidc: None,
        }
    }

    /// Like [`Self::spawn`], with single sign-on through a real OpenID provider whose
    /// client is registered with this portal's redirect URI.
    pub async fn spawn_with_sso() -> TestApp {
        let (slapd, smtp, database) = start_components(Slapd::start).await;
        let mut settings = test_settings(&slapd, &smtp, &database);
        // The portal's port must be known before the provider starts.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
        let address = format!(
            "http://127.0.0.1:{}",
            listener.local_addr().expect("bound address").port()
        );
        let provider = OidcProvider::start(&format!("{address}/auth/oidc/callback"));
        settings.server.public_url = address.clone();
        settings.oidc = Some(roster::config::OidcSettings {
            issuer_url: provider.issuer.clone(),
            client_id: super::oidc::CLIENT_ID.into(),
            client_secret: Secret::new(super::oidc::CLIENT_SECRET),
            client_secret_file: None,
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            display_name: "Test University login".into(),
            match_claim: "email".into(),
        });
        let app = Application::build_on(settings.clone(), listener)
            .await
            .expect("application builds");
        let context = app.context().clone();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            browser: Browser::new(&address),
            address,
            context,
            settings,
            slapd,
            smtp,
            database,
            oidc: Some(provider),
        }
    }

    /// Applies every directory job due by the app's clock, as the outbox worker would.
    pub async fn run_jobs(&self) {
        while roster::jobs::run_one_due(&self.context).await {}
    }

    /// Runs every SCIM job due by the app's clock, as the targets' workers would.
    pub async fn run_scim_jobs(&self) -> usize {
        roster::jobs::scim::run_all_due(&self.context).await
    }

    /// Moves the app's clock past every retry backoff and lease, then drains the outbox.
    pub async fn run_jobs_later(&self) {
        self.context.clock.advance(10 * 60);
        self.run_jobs().await;
    }

    /// The end of a test that touched accounts: the outbox drained, with nothing waiting or
    /// failed, and every account's LDAP entry exactly what the portal expects of it.
    pub async fn assert_directory_settled(&self) {
        use roster::store::people::{AccountSearch, StatusFilter};
        self.run_jobs().await;
        let left = self.context.store.pending_jobs(1_000).await.unwrap();
        assert!(
            left.is_empty(),
            "jobs left in the outbox: {:?}",
            left.iter()
                .map(|job| (&job.kind, job.failed, &job.last_error))
                .collect::<Vec<_>>()
        );
        let today = roster::clock::today_iso();
        let people = self
            .context
            .store
            .search_accounts(&AccountSearch {
                text: None,
                status: StatusFilter::Any,
                today: &today,
                limit: 10_000,
                offset: 0,
            })
            .await
            .unwrap()
            .people;
        for person in people {
            let Some(expected) = roster::jobs::expected_account(&self.context, &person)
                .await
                .unwrap()
            else {
                continue;
            };
            let live = self
                .context
                .directory
                .account_entry(&expected.username)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("no LDAP entry for {}", expected.username));
            for (attribute, mut want) in expected.owned_attributes() {
                let mut held = live
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
                    .map(|(_, values)| values.clone())
                    .unwrap_or_default();
                want.sort();
                held.sort();
                assert_eq!(held, want, "{attribute} of {}", expected.username);
            }
        }
    }

    pub fn provider(&self) -> &OidcProvider {
        self.oidc.as_ref().expect("the app was spawned with SSO")
    }

    /// A second browser with its own cookies.
    pub fn new_browser(&self) -> Browser {
        Browser::new(&self.address)
    }

    /// Invites a site admin through the same code path as `roster admin invite`, and
    /// returns the link from the email that arrived at the SMTP sink.
    pub async fn invite_admin(&self, email: &str, surname: &str) -> String {
        self.invite_staff(email, surname, roster::domain::Role::SiteAdmin)
            .await
    }

    /// Invites someone with a site-wide role (admin or helpdesk); returns the emailed link.
    pub async fn invite_staff(
        &self,
        email: &str,
        surname: &str,
        role: roster::domain::Role,
    ) -> String {
        use roster::domain::{Email, PersonName};
        use roster::usecases::invitations::{InvitationRequest, create_invitation};
        let created = create_invitation(
            &self.context,
            InvitationRequest {
                email: Email::parse(email).expect("valid email"),
                surname: PersonName::parse("surname", surname).expect("valid surname"),
                given_name: None,
                role,
                organisation_id: None,
                organisation_name: None,
                inviter: roster::usecases::Actor::CommandLine,
                may_grant_manager: true,
                client_ip: None,
                ends_on: None,
                message: None,
            },
        )
        .await
        .expect("invitation created");
        let mail = self.mail_with_link(&created.link).await;
        assert!(mail.is_to(email), "the mail went to {:?}", mail.to);
        created.link
    }

    /// Sends every due mail and waits until none is due or in flight (a mail whose send
    /// failed waits for its retry time, which the clock moves).
    pub async fn deliver_mail(&self) {
        // Generous: a loaded CI machine may take long over a batch; a healthy run is quick.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            roster::jobs::mail::send_all_due(&self.context).await;
            let due = self
                .context
                .store
                .due_mail_count(self.context.clock.now())
                .await
                .expect("count due mail");
            if due == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{due} mail(s) still due after 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the mail that carries exactly this link.
    pub async fn mail_with_link(&self, link: &str) -> ReceivedMail {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(mail) = self
                .smtp
                .messages()
                .into_iter()
                .find(|mail| mail.links().iter().any(|l| l == link))
            {
                return mail;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no mail with {link} arrived"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn mail_to(&self, address: &str) -> ReceivedMail {
        self.smtp
            .wait_for_mail_to(address, Duration::from_secs(10))
            .await
    }

    /// An admin who has accepted their invitation; the default browser is signed in.
    pub async fn signed_in_admin(&self, email: &str) -> String {
        let link = self.invite_admin(email, "Admin").await;
        let response = self.browser.accept_invitation(&link, GOOD_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        link
    }

    /// A new browser signed in as a helpdesk person (or another site role).
    pub async fn staff_browser(&self, email: &str, role: roster::domain::Role) -> Browser {
        let link = self.invite_staff(email, "Staff", role).await;
        let browser = self.new_browser();
        let response = browser.accept_invitation(&link, GOOD_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "accepting {link}");
        browser
    }

    /// Creates an organisation through the same code as the admin form.
    pub async fn create_org(
        &self,
        name: &str,
        short_name: &str,
    ) -> roster::store::organisations::Organisation {
        use roster::domain::{Description, OrganisationName, ShortName};
        roster::usecases::organisations::create_organisation(
            &self.context,
            roster::usecases::organisations::NewOrganisationRequest {
                name: OrganisationName::parse(name).expect("valid name"),
                short_name: ShortName::parse(short_name).expect("valid short name"),
                description: Description::parse("").expect("valid description"),
                actor_id: None,
                client_ip: None,
            },
        )
        .await
        .expect("organisation created")
    }

    /// Creates a resource as a site admin would (the command line's path).
    pub async fn create_resource(
        &self,
        organisation: &roster::store::organisations::Organisation,
        short_name: &str,
        kind: &str,
    ) -> roster::store::resources::Resource {
        use roster::domain::{Description, OrganisationName, ResourceKind, ShortName, Site};
        use roster::usecases::resources::{NewResourceRequest, ResourceActor, create_resource};
        create_resource(
            &self.context,
            organisation,
            ResourceActor {
                actor: roster::usecases::Actor::CommandLine,
                client_ip: None,
                site_admin: true,
            },
            NewResourceRequest {
                short_name: ShortName::parse(short_name).expect("valid short name"),
                name: OrganisationName::parse(&format!("Resource {short_name}"))
                    .expect("valid name"),
                kind: ResourceKind::parse(kind, &self.settings.resources.kinds).expect("a kind"),
                site: Site::parse("Building 7").expect("valid site"),
                description: Description::parse("").expect("valid description"),
                ends_on: None,
            },
        )
        .await
        .expect("resource created")
    }

    /// Invites `email` into `organisation` with `role`; returns the emailed link.
    pub async fn invite_to(
        &self,
        organisation: &roster::store::organisations::Organisation,
        email: &str,
        surname: &str,
        role: roster::domain::Role,
    ) -> String {
        use roster::domain::{Email, PersonName};
        use roster::usecases::invitations::{InvitationRequest, create_invitation};
        let created = create_invitation(
            &self.context,
            InvitationRequest {
                email: Email::parse(email).expect("valid email"),
                surname: PersonName::parse("surname", surname).expect("valid surname"),
                given_name: None,
                role,
                organisation_id: Some(&organisation.id),
                organisation_name: Some(&organisation.name),
                inviter: roster::usecases::Actor::CommandLine,
                may_grant_manager: true,
                client_ip: None,
                ends_on: None,
                message: None,
            },
        )
        .await
        .expect("invitation created");
        self.mail_with_link(&created.link).await;
        created.link
    }

    /// A new browser signed in as someone who accepted an invitation into `organisation`.
    pub async fn browser_for(
        &self,
        organisation: &roster::store::organisations::Organisation,
        email: &str,
        role: roster::domain::Role,
    ) -> Browser {
        let link = self.invite_to(organisation, email, "Tester", role).await;
        let browser = self.new_browser();
        let response = browser.accept_invitation(&link, GOOD_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "accepting {link}");
        browser
    }

    /// A member of `organisation` who has set up the POSIX account `username` (password
    /// [`GOOD_PASSWORD`], shell /bin/bash); the returned browser is signed in.
    pub async fn activated_member(
        &self,
        organisation: &roster::store::organisations::Organisation,
        username: &str,
    ) -> Browser {
        self.activated_with_role(organisation, username, roster::domain::Role::Member)
            .await
    }

    /// Like [`Self::activated_member`], with another organisation role.
    pub async fn activated_with_role(
        &self,
        organisation: &roster::store::organisations::Organisation,
        username: &str,
        role: roster::domain::Role,
    ) -> Browser {
        let email = format!("{username}@example.org");
        let link = self.invite_to(organisation, &email, "Person", role).await;
        let browser = self.new_browser();
        assert_eq!(
            browser
                .accept_invitation(&link, GOOD_PASSWORD)
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
        let done = browser.set_up_account(username).await;
        assert_eq!(
            location(&done),
            "/?welcome=account",
            "setting up {username}"
        );
        browser
    }

    /// The group's memberUid values as LDAP holds them (None: no such group).
    pub async fn ldap_member_uids(&self, cn: &str) -> Option<Vec<String>> {
        let dn = format!("cn={cn},{}", self.slapd.groups_dn());
        let entry = self.slapd.search_entry(&dn).await?;
        let mut uids = entry.attrs.get("memberUid").cloned().unwrap_or_default();
        uids.sort();
        Some(uids)
    }

    pub async fn person_id(&self, email: &str) -> String {
        let email = roster::domain::Email::parse(email).expect("valid email");
        self.context
            .store
            .person_by_email(&email)
            .await
            .expect("store works")
            .expect("person exists")
            .id
    }
}

/// Starts slapd, the SMTP sink and the database at once: the sink's Python start-up is the
/// slowest part of a test's set-up, so it runs while the others start.
async fn start_components(
    start_slapd: impl FnOnce() -> Slapd + Send + 'static,
) -> (Slapd, SmtpSink, TestDatabase) {
    let smtp = std::thread::spawn(SmtpSink::start);
    let slapd = std::thread::spawn(start_slapd);
    let database = TestDatabase::create().await;
    let smtp = smtp.join().expect("the SMTP sink starts");
    let slapd = slapd.join().expect("slapd starts");
    (slapd, smtp, database)
}

/// Builds and runs one portal instance; returns its base URL and services.
pub async fn start_instance(settings: Settings) -> (String, AppContext) {
    let (address, context, _) = start_stoppable_instance(settings).await;
    (address, context)
}

/// Like [`start_instance`], with the handle that stops it (a portal restart in tests).
pub async fn start_stoppable_instance(
    settings: Settings,
) -> (String, AppContext, actix_web::dev::ServerHandle) {
    let app = Application::build(settings)
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let context = app.context().clone();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    (address, context, handle)
}

pub fn invitation_link(mail: &ReceivedMail) -> String {
    mail.links()
        .into_iter()
        .find(|link| link.contains("/invitations/"))
        .expect("the mail holds an invitation link")
}

/// A browser: keeps cookies, does not follow redirects, reads CSRF tokens from pages.
pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
}

pub struct Page {
    pub status: StatusCode,
    pub html: Html,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    pub fn select_all(&self, selector: &str) -> Vec<String> {
        let selector = Selector::parse(selector).expect("valid selector");
        self.html
            .select(&selector)
            .map(|element| element.text().collect::<String>().trim().to_string())
            .collect()
    }

    /// Text of the one element matching `selector`; fails the test when there is not one.
    pub fn text(&self, selector: &str) -> String {
        let found = self.select_all(selector);
        assert_eq!(
            found.len(),
            1,
            "expected exactly one `{selector}`, found {found:?} in:\n{}",
            self.html.html()
        );
        found.into_iter().next().unwrap_or_default()
    }

    pub fn attr(&self, selector: &str, attribute: &str) -> Option<String> {
        let selector = Selector::parse(selector).expect("valid selector");
        self.html
            .select(&selector)
            .next()
            .and_then(|element| element.value().attr(attribute))
            .map(str::to_string)
    }

    /// `attribute` of every element matching `selector`, in document order.
    pub fn attr_all(&self, selector: &str, attribute: &str) -> Vec<String> {
        let selector = Selector::parse(selector).expect("valid selector");
        self.html
            .select(&selector)
            .filter_map(|element| element.value().attr(attribute))
            .map(str::to_string)
            .collect()
    }

    pub fn csrf_token(&self) -> String {
        self.attr("input[name=csrf_token]", "value")
            .expect("the page has a form with a CSRF token")
    }
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            // Shorter than the server's 5 s keep-alive, so a pooled connection is never
            // reused just as the server closes it (hyper's IncompleteMessage).
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .expect("HTTP client builds");
        Browser {
            base: base.to_string(),
            client,
            jar,
        }
    }

    /// The `Cookie` header this browser would send now.
    pub fn cookies(&self) -> String {
        use reqwest::cookie::CookieStore;
        let url = self.base.parse().expect("base URL parses");
        self.jar
            .cookies(&url)
            .and_then(|value| value.to_str().ok().map(str::to_string))
            .unwrap_or_default()
    }

    /// A GET sent with exactly the given `Cookie` header, as a copied cookie would be.
    pub async fn get_with_cookies(&self, path: &str, cookies: &str) -> reqwest::Response {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client builds")
            .get(self.url(path))
            .header(reqwest::header::COOKIE, cookies)
            .send()
            .await
            .expect("GET request completes")
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{}", self.base, path_or_url)
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("GET request completes")
    }

    pub async fn page(&self, path: &str) -> Page {
        into_page(self.get(path).await).await
    }

    /// POSTs the fields as a form, exactly as given (no token added).
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST request completes")
    }

    /// Loads `page_path` like a person would, then submits its form to `action` with the
    /// page's CSRF token plus `fields`.
    pub async fn submit(
        &self,
        page_path: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let page = self.page(page_path).await;
        assert!(
            page.status.is_success(),
            "{page_path} answered {}",
            page.status
        );
        let token = page.csrf_token();
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post_form(action, &all).await
    }

    /// Follows a response that sends the browser to the OpenID provider, hop by hop with
    /// this browser's cookies, until the provider sends it back to the portal's callback;
    /// returns that callback URL (not yet opened).
    pub async fn through_provider(&self, response: reqwest::Response) -> String {
        let callback = format!("{}/auth/oidc/callback", self.base);
        let mut response = response;
        for _ in 0..10 {
            assert!(
                response.status().is_redirection(),
                "expected a redirect at {}, got {}",
                response.url(),
                response.status()
            );
            let next = response
                .url()
                .join(&location(&response))
                .expect("Location resolves");
            if next.as_str().starts_with(&callback) {
                return next.to_string();
            }
            response = self
                .client
                .get(next)
                .send()
                .await
                .expect("provider request completes");
        }
        panic!("the provider did not send the browser back within 10 redirects");
    }

    /// Opens an absolute URL (e.g. a callback URL) with this browser's cookies.
    pub async fn get_url(&self, url: &str) -> reqwest::Response {
        self.client
            .get(url)
            .send()
            .await
            .expect("GET request completes")
    }

    pub async fn sign_in(&self, login: &str, password: &str) -> reqwest::Response {
        self.submit(
            "/sign-in",
            "/sign-in",
            &[("login", login), ("password", password)],
        )
        .await
    }

    /// Submits the acceptance form of a link whose page may no longer open (with a token
    /// from the sign-in page); returns the status.
    pub async fn accept_invitation_raw(&self, link: &str) -> u16 {
        let token = self.page("/sign-in").await.csrf_token();
        self.post_form(
            link,
            &[
                ("csrf_token", &token),
                ("password", GOOD_PASSWORD),
                ("password_confirmation", GOOD_PASSWORD),
            ],
        )
        .await
        .status()
        .as_u16()
    }

    /// Chooses the POSIX username (shell /bin/bash), reviews and confirms it; returns the
    /// confirmation's response (a redirect to `/?welcome=account` when it worked).
    pub async fn set_up_account(&self, username: &str) -> reqwest::Response {
        let fields = [("username", username), ("login_shell", "/bin/bash")];
        let review = into_page(
            self.submit("/account/setup", "/account/setup", &fields)
                .await,
        )
        .await;
        let token = review.csrf_token();
        let mut confirm = vec![("csrf_token", token.as_str())];
        confirm.extend_from_slice(&fields);
        self.post_form("/account/setup/confirm", &confirm).await
    }

    pub async fn accept_invitation(&self, link: &str, password: &str) -> reqwest::Response {
        self.submit(
            link,
            link,
            &[("password", password), ("password_confirmation", password)],
        )
        .await
    }
}

pub async fn into_page(response: reqwest::Response) -> Page {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.expect("response body reads");
    Page {
        status,
        html: Html::parse_document(&body),
        headers,
    }
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string()
}
