//! A spreadsheet of people to invite (CSV), read into rows the preview can show: each row
//! either parsed into domain values or refused with the field and the reason. Whether a
//! person is already a member, invited or in the directory is for the use case to find out;
//! this only reads the file, so that no bad input goes further.

use std::collections::HashMap;

use super::{Email, EndDate, FieldError, PersonName, Role};

/// Largest file accepted.
pub const MAX_SHEET_BYTES: usize = 2 * 1024 * 1024;
/// Most rows (people) one file may hold.
pub const MAX_SHEET_ROWS: usize = 5_000;

/// Why a whole file was refused; shown above the upload form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetError {
    #[error("The file is larger than 2 MB. Split it into smaller files.")]
    TooLarge,
    #[error("The file has more than 5,000 people. Split it into smaller files.")]
    TooManyRows,
    #[error("The file is not a CSV text file ({0}). Save the spreadsheet as CSV (UTF-8).")]
    NotCsv(String),
    #[error("The file has no “{0}” column. The first line must name the columns.")]
    MissingColumn(&'static str),
    #[error("The file has no people in it, only a header line.")]
    Empty,
}

/// One person to invite, as read from a valid row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitee {
    pub surname: PersonName,
    pub given_name: Option<PersonName>,
    pub email: Email,
    /// `None` when the row leaves it empty (the form's default applies).
    pub role: Option<Role>,
    pub ends_on: Option<EndDate>,
}

/// A row of the file: its line, what it says (for showing it back) and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetRow {
    /// The line in the file (the header is line 1).
    pub line: u64,
    pub name: String,
    pub email: String,
    pub invitee: Result<Invitee, FieldError>,
}

/// The columns, by the names people give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Surname,
    GivenName,
    Email,
    Role,
    EndDate,
}

impl Column {
    fn of(header: &str) -> Option<Self> {
        let name: String = header
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect();
        Some(match name.as_str() {
            "surname" | "lastname" | "familyname" | "sn" => Column::Surname,
            "givenname" | "firstname" | "forename" => Column::GivenName,
            "email" | "emailaddress" | "mail" => Column::Email,
            "role" => Column::Role,
            "enddate" | "endson" | "until" => Column::EndDate,
            _ => return None,
        })
    }
}

/// `;` when the header uses it and no `,` (spreadsheets in many locales save so).
fn separator(header_line: &str) -> u8 {
    if header_line.contains(';') && !header_line.contains(',') {
        b';'
    } else {
        b','
    }
}

/// Reads a CSV file of people to invite. `today` refuses end dates in the past.
pub fn read_invitation_sheet(bytes: &[u8], today: time::Date) -> Result<Vec<SheetRow>, SheetError> {
    if bytes.len() > MAX_SHEET_BYTES {
        return Err(SheetError::TooLarge);
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| SheetError::NotCsv("it is not UTF-8 text".into()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.contains('\0') {
        return Err(SheetError::NotCsv("it holds NUL bytes".into()));
    }
    let header_line = text.lines().next().unwrap_or_default();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator(header_line))
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|error| SheetError::NotCsv(error.to_string()))?
        .clone();
    let mut columns: HashMap<usize, Column> = HashMap::new();
    for (index, header) in headers.iter().enumerate() {
        if let Some(column) = Column::of(header)
            && !columns.values().any(|taken| *taken == column)
        {
            columns.insert(index, column);
        }
    }
    for (column, label) in [(Column::Email, "email"), (Column::Surname, "surname")] {
        if !columns.values().any(|found| *found == column) {
            return Err(SheetError::MissingColumn(label));
        }
    }
    let mut rows = Vec::new();
    let mut first_line_of: HashMap<String, u64> = HashMap::new();
    // The line of the record being read (the header is line 1), counted up to `counted_to`.
    let (mut line_at, mut counted_to) = (1_u64, 0_usize);
    for record in reader.records() {
        let record = record.map_err(|error| SheetError::NotCsv(error.to_string()))?;
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        if rows.len() == MAX_SHEET_ROWS {
            return Err(SheetError::TooManyRows);
        }
        // From where the record's text starts: the reader's own line count misses CRLF
        // endings, and its offset may point at the line break before the record.
        let offset = record.position().map_or(counted_to, |position| {
            usize::try_from(position.byte()).unwrap_or(counted_to)
        });
        let rest = text.get(offset..).unwrap_or_default();
        let starts_at = offset + (rest.len() - rest.trim_start_matches(['\r', '\n']).len());
        line_at += text
            .get(counted_to..starts_at.max(counted_to))
            .map_or(0, |skipped| skipped.matches('\n').count() as u64);
        counted_to = starts_at.max(counted_to);
        let line = line_at;
        let cell = |wanted: Column| {
            columns
                .iter()
                .find(|(_, column)| **column == wanted)
                .and_then(|(index, _)| record.get(*index))
                .unwrap_or("")
        };
        let invitee = read_row(&cell, today)
            .and_then(|invitee| first_of(invitee, line, &mut first_line_of, "line"));
        rows.push(SheetRow {
            line,
            name: shown(&format!(
                "{} {}",
                cell(Column::GivenName),
                cell(Column::Surname)
            )),
            email: shown(cell(Column::Email)),
            invitee,
        });
    }
    if rows.is_empty() {
        return Err(SheetError::Empty);
    }
    Ok(rows)
}

/// The invitee, or a duplicate error naming where the same email came first.
fn first_of(
    invitee: Invitee,
    at: u64,
    first_at: &mut HashMap<String, u64>,
    noun: &str,
) -> Result<Invitee, FieldError> {
    let key = invitee.email.normalized();
    match first_at.get(&key) {
        Some(first) => Err(FieldError::new(
            "email",
            format!("Duplicate of {noun} {first}."),
        )),
        None => {
            first_at.insert(key, at);
            Ok(invitee)
        }
    }
}

/// One person as the API sends them: the spreadsheet's columns as JSON fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InviteeFields {
    pub surname: String,
    pub given_name: String,
    pub email: String,
    pub role: String,
    pub end_date: String,
}

/// Reads the API's list of people with the spreadsheet's rules; each row's `line` is the
/// item's index (from 0), and a duplicate names the index it repeats.
pub fn read_invitation_items(
    items: &[InviteeFields],
    today: time::Date,
) -> Result<Vec<SheetRow>, SheetError> {
    if items.len() > MAX_SHEET_ROWS {
        return Err(SheetError::TooManyRows);
    }
    if items.is_empty() {
        return Err(SheetError::Empty);
    }
    let mut first_index_of = HashMap::new();
    Ok(items
        .iter()
        .zip(0_u64..)
        .map(|(item, index)| {
            let cell = |column: Column| match column {
                Column::Surname => item.surname.as_str(),
                Column::GivenName => item.given_name.as_str(),
                Column::Email => item.email.as_str(),
                Column::Role => item.role.as_str(),
                Column::EndDate => item.end_date.as_str(),
            };
            SheetRow {
                line: index,
                name: shown(&format!("{} {}", item.given_name, item.surname)),
                email: shown(&item.email),
                invitee: read_row(&cell, today)
                    .and_then(|invitee| first_of(invitee, index, &mut first_index_of, "item")),
            }
        })
        .collect())
}

fn read_row<'a>(
    cell: &dyn Fn(Column) -> &'a str,
    today: time::Date,
) -> Result<Invitee, FieldError> {
    let email = Email::parse(cell(Column::Email))?;
    let surname = PersonName::parse("surname", cell(Column::Surname))?;
    let given_name = PersonName::parse_optional("given_name", cell(Column::GivenName))?;
    let role = match cell(Column::Role).trim() {
        "" => None,
        value => Some(
            Role::parse(&value.to_lowercase())
                .filter(|role| Role::ORGANISATION_ROLES.contains(role))
                .ok_or_else(|| FieldError::new("role", "Use member, manager or owner."))?,
        ),
    };
    let ends_on = EndDate::parse_optional(cell(Column::EndDate), today)
        .map_err(|error| FieldError::new("end_date", error.message))?;
    Ok(Invitee {
        surname,
        given_name,
        email,
        role,
        ends_on,
    })
}

/// What a cell said, short enough to show back beside its error.
fn shown(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(79).collect();
        format!("{cut}…")
    } else {
        text.to_string()
    }
}

/// A cell for a CSV that people open in spreadsheets: text that a spreadsheet would take
/// for a formula (`=`, `+`, `-`, `@`, tab, carriage return first) is made plain text with
/// a leading apostrophe (OWASP's advice against CSV injection).
pub fn spreadsheet_safe(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

#[cfg(test)]
// A test that cannot read its own fixture should stop right there, as the integration tests do.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn today() -> time::Date {
        time::macros::date!(2026 - 11 - 29)
    }

    fn read(text: &str) -> Result<Vec<SheetRow>, SheetError> {
        read_invitation_sheet(text.as_bytes(), today())
    }

    fn reasons(rows: &[SheetRow]) -> Vec<(u64, Option<&'static str>)> {
        rows.iter()
            .map(|row| {
                (
                    row.line,
                    row.invitee.as_ref().err().map(|error| error.field),
                )
            })
            .collect()
    }

    #[test]
    fn columns_in_any_order_with_a_bom_semicolons_quotes_and_crlf() {
        let text = "\u{feff}E-mail;Given name;Surname;Role;End date\r\n\
                    anna.mueller@example.org;Anna;\"Müller\";member;2027-06-30\r\n\
                    \"pia.nunez@example.org\";Pía;Nuñez;;\r\n\
                    sean@example.org;Seán;\"O'Brien; Jr\";Manager;\r\n";
        let rows = read(text).unwrap();
        assert_eq!(reasons(&rows), vec![(2, None), (3, None), (4, None)]);
        let first = rows[0].invitee.as_ref().unwrap();
        assert_eq!(first.surname.as_str(), "Müller");
        assert_eq!(
            first.ends_on.map(EndDate::to_iso).as_deref(),
            Some("2027-06-30")
        );
        assert_eq!(rows[1].invitee.as_ref().unwrap().role, None);
        let third = rows[2].invitee.as_ref().unwrap();
        assert_eq!(third.surname.as_str(), "O'Brien; Jr");
        assert_eq!(third.role, Some(Role::Manager));
        assert_eq!(rows[2].name, "Seán O'Brien; Jr");
    }

    #[test]
    fn bad_rows_are_refused_with_their_field_and_duplicates_name_the_first_line() {
        let text = "surname,email,role,end date\n\
                    Smith,not-an-email,,\n\
                    Jones,jones@example.org,admin,\n\
                    Brown,brown@example.org,,1999-01-01\n\
                    ,nobody@example.org,,\n\
                    Green,green@example.org,,\n\
                    Green,GREEN@example.org,,\n";
        let rows = read(text).unwrap();
        assert_eq!(
            reasons(&rows),
            vec![
                (2, Some("email")),
                (3, Some("role")),
                (4, Some("end_date")),
                (5, Some("surname")),
                (6, None),
                (7, Some("email")),
            ]
        );
        assert_eq!(
            rows[5].invitee.as_ref().unwrap_err().message,
            "Duplicate of line 6."
        );
    }

    #[test]
    fn hostile_files_get_a_reason_not_a_panic() {
        assert_eq!(
            read_invitation_sheet(&vec![b'a'; MAX_SHEET_BYTES + 1], today()),
            Err(SheetError::TooLarge)
        );
        assert!(matches!(
            read_invitation_sheet(&[0xff, 0xfe, 0x00, 0x89, b'P', b'N', b'G'], today()),
            Err(SheetError::NotCsv(_))
        ));
        assert!(matches!(
            read("surname,email\nA,a@example.org\0\n"),
            Err(SheetError::NotCsv(_))
        ));
        assert_eq!(
            read("name,address\nA,B\n"),
            Err(SheetError::MissingColumn("email"))
        );
        assert_eq!(
            read("email\na@example.org\n"),
            Err(SheetError::MissingColumn("surname"))
        );
        assert_eq!(read("surname,email\n\n,\n"), Err(SheetError::Empty));
        let many: String = std::iter::once("surname,email\n".to_string())
            .chain((0..=MAX_SHEET_ROWS).map(|n| format!("S{n},p{n}@example.org\n")))
            .collect();
        assert_eq!(read(&many), Err(SheetError::TooManyRows));

        // Formula cells are names or addresses like any other text: refused or kept, never run.
        let huge = "x".repeat(1024 * 1024);
        let text = format!(
            "surname,email\n=HYPERLINK(\"http://evil.example\"),evil@example.org\n{huge},big@example.org\n\"unclosed,a@example.org\n"
        );
        let rows = read(&text).unwrap();
        assert!(rows.iter().all(|row| row.name.chars().count() <= 80));
        assert!(rows[1].invitee.is_err(), "a 1 MB name is refused");
    }

    #[test]
    fn exported_cells_never_start_a_formula() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("+1"), "'+1");
        assert_eq!(spreadsheet_safe("-2+3"), "'-2+3");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("\tcmd"), "'\tcmd");
        assert_eq!(spreadsheet_safe("Müller"), "Müller");
    }
}
