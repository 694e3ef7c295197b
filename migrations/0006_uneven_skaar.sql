ALTER TABLE `checks` ADD `cert_expires_at` integer;--> statement-breakpoint
ALTER TABLE `checks` ADD `cert_issuer` text;--> statement-breakpoint
ALTER TABLE `sites` ADD `webhooks` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `status_snapshot` ADD `cert_expires_at` integer;--> statement-breakpoint
ALTER TABLE `status_snapshot` ADD `cert_issuer` text;