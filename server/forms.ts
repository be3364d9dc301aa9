// What a job type's form shows, from the type's field declarations: one view
// for every type, so the template (fragments/job-form.eta) never names one.
// Also the one check of a submission, form or JSON: each field on its own
// (jobs/core/fields.ts), then the type's checks across fields.
import { checkFields, defaultValues, displayValue, type Field, type Params } from "../jobs/core/fields.ts";
import { NOTIFY_EMAIL_FIELD, SUBMISSION_FIELD, type JobType } from "../jobs/core/job-type.ts";
import type { JobSettings } from "../jobs/core/settings.ts";
import { newSubmissionToken } from "./submit-keys.ts";
import { formatSize } from "./format-size.ts";
import { formAction } from "./urls.ts";
import { reuseField, type KeptFile } from "./kept-uploads.ts";
import type { NotifySettings } from "./notify/settings.ts";

export interface FieldView {
  name: string;
  /** The control's id: the field's name, so the error summary can link to it. */
  id: string;
  kind: Field["kind"];
  label: string;
  hint: string | null;
  error: string | null;
  /** The ids of the hint and the error, for aria-describedby ("" when neither). */
  describedBy: string;
  value: string;
  checked: boolean;
  multiline: boolean;
  /** The keyboard a phone offers: "numeric" only where no minus sign is needed. */
  inputmode: "text" | "numeric" | "decimal";
  options: { value: string; label: string; selected: boolean }[];
  accept: string;
  /** A file field: the largest file it takes, "At most 50 MB." (JOB_UPLOAD_MAX_BYTES). */
  limit: string | null;
  /** A file field of a form sent back (refused): a browser does not keep the file chosen, so the form says to choose it again. */
  chooseAgain: boolean;
  /** A file field of a form started again from an earlier job whose file is still kept: offered again (kept-uploads.ts). */
  kept: { field: string; from: string; name: string; size: string } | null;
}

/** What the form shows beyond the type's own declaration. */
export interface FormSettings extends JobSettings {
  /** JOB_UPLOAD_MAX_BYTES, shown next to a file field. */
  jobUploadMaxBytes?: number;
  /** With SMTP_URL, every form offers an address to tell when the job ends. */
  notify?: Pick<NotifySettings, "smtpUrl">;
}

/** Every form's optional email field (with SMTP_URL): an address told when the job ends (server/notify/). */
export interface NotifyFieldView {
  name: string;
  id: string;
  value: string;
  error: string | null;
  describedBy: string;
  /** The empty form: the signed-in person's address may fill it in (routes/forms.ts). */
  fresh: boolean;
}

export interface FormView {
  type: string;
  title: string;
  description: string;
  action: string;
  submitLabel: string;
  fields: FieldView[];
  errorList: { id: string; message: string }[];
  note: string | null;
  /** A file field: the form is sent as multipart/form-data. */
  hasFile: boolean;
  /** The hidden field's name and the one-time token it holds, made for this render (server/submit-keys.ts). */
  tokenField: string;
  token: string;
  /** The email field, where mail is sent; null otherwise. */
  notify: NotifyFieldView | null;
}

function inputmode(field: Field): FieldView["inputmode"] {
  if (field.kind === "integer") return field.min !== undefined && field.min >= 0 ? "numeric" : "text";
  if (field.kind === "number") return field.min !== undefined && field.min >= 0 ? "decimal" : "text";
  return "text";
}

/**
 * The form of a type: empty, filled in (values), or sent back with its
 * problems (errors); `sentBack`: the form was submitted and is answered again
 * (422, 413), so a file field, which no browser refills, says to choose its file again;
 * `kept`: the files of an earlier job still kept, offered again (kept-uploads.ts).
 */
export function formView(
  type: JobType,
  settings: FormSettings,
  values: Record<string, string> = defaultValues(type.fields),
  errors: Record<string, string> = {},
  sentBack = false,
  kept: Readonly<Record<string, KeptFile>> = {},
): FormView {
  const fields = type.fields.map((f): FieldView => {
    const error = errors[f.name] ?? null;
    const value = values[f.name] ?? "";
    const limit = f.kind === "file" && settings.jobUploadMaxBytes ? `At most ${formatSize(settings.jobUploadMaxBytes)}.` : null;
    const file = f.kind === "file" ? kept[f.name] : undefined;
    const chooseAgain = f.kind === "file" && sentBack && !file;
    const describedBy = [
      f.hint ? `${f.name}-hint` : "",
      limit ? `${f.name}-limit` : "",
      chooseAgain ? `${f.name}-again` : "",
      error ? `${f.name}-error` : "",
    ]
      .filter(Boolean)
      .join(" ");
    return {
      name: f.name,
      id: f.name,
      kind: f.kind,
      label: f.label,
      hint: f.hint ?? null,
      error,
      describedBy,
      value,
      checked: f.kind === "boolean" && value === "true",
      multiline: f.kind === "text" && f.multiline === true,
      inputmode: inputmode(f),
      options: f.kind === "choice" ? f.options.map((o) => ({ ...o, selected: o.value === value })) : [],
      accept: f.kind === "file" ? f.accept.join(",") : "",
      limit,
      chooseAgain,
      kept: file ? { field: reuseField(f.name), from: file.from, name: file.name, size: formatSize(file.size) } : null,
    };
  });
  const notifyError = errors[NOTIFY_EMAIL_FIELD] ?? null;
  const notify: NotifyFieldView | null = settings.notify?.smtpUrl
    ? {
        name: NOTIFY_EMAIL_FIELD,
        id: NOTIFY_EMAIL_FIELD,
        value: values[NOTIFY_EMAIL_FIELD] ?? "",
        error: notifyError,
        describedBy: [`${NOTIFY_EMAIL_FIELD}-hint`, notifyError ? `${NOTIFY_EMAIL_FIELD}-error` : ""].filter(Boolean).join(" "),
        fresh: !sentBack && values[NOTIFY_EMAIL_FIELD] === undefined,
      }
    : null;
  return {
    type: type.name,
    title: type.title,
    description: type.description,
    action: formAction(type),
    submitLabel: type.submitLabel,
    fields,
    errorList: [
      ...fields.filter((f) => f.error).map((f) => ({ id: f.id, message: f.error! })),
      ...(notify?.error ? [{ id: notify.id, message: notify.error }] : []),
    ],
    note: type.formNote?.(settings) ?? null,
    hasFile: type.fields.some((f) => f.kind === "file"),
    tokenField: SUBMISSION_FIELD,
    token: newSubmissionToken(),
    notify,
  };
}

export type Submission =
  { ok: true; params: Params; total: number } | { ok: false; errors: Record<string, string>; values: Record<string, string> };

/** Checks a parsed form or JSON body: each field, then the type's own checks across fields. */
export function checkSubmission(type: JobType, settings: JobSettings, input: Record<string, unknown>): Submission {
  const fields = checkFields(type.fields, input);
  if (!fields.ok) return fields;
  const cross = type.check?.(fields.params, settings) ?? { errors: {} };
  const values = Object.fromEntries(type.fields.map((f) => [f.name, displayValue(input[f.name] ?? fields.params[f.name])]));
  if (Object.keys(cross.errors).length > 0) return { ok: false, errors: cross.errors, values };
  return { ok: true, params: fields.params, total: cross.total ?? 0 };
}

/** The form's values for valid parameters (a filled-in form). */
export function paramValues(type: JobType, params: Params): Record<string, string> {
  return Object.fromEntries(type.fields.map((f) => [f.name, f.kind === "file" ? "" : displayValue(params[f.name])]));
}
