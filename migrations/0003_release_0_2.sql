CREATE TABLE `webhook_deliveries` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`alert_id` integer NOT NULL,
	`site_id` integer NOT NULL,
	`url` text NOT NULL,
	`format` text NOT NULL,
	`secret` text,
	`state` text NOT NULL,
	`created_at` integer NOT NULL,
	`due_at` integer NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`last_attempt_at` integer,
	`last_error` text,
	`last_status` integer,
	`sent_at` integer,
	`cancel_reason` text
);
--> statement-breakpoint
CREATE INDEX `webhook_deliveries_state_due_idx` ON `webhook_deliveries` (`state`,`due_at`);--> statement-breakpoint
CREATE INDEX `webhook_deliveries_alert_idx` ON `webhook_deliveries` (`alert_id`);--> statement-breakpoint
CREATE TABLE `cert_notices` (
	`site_id` integer NOT NULL,
	`target` text NOT NULL,
	`expires_at` integer NOT NULL,
	`issuer` text,
	`first_notified_at` integer NOT NULL,
	`last_notified_at` integer NOT NULL,
	PRIMARY KEY(`site_id`, `target`, `expires_at`),
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `rollup_days` (
	`id` integer PRIMARY KEY NOT NULL,
	`count` integer NOT NULL,
	`ok` integer NOT NULL,
	`fail` text,
	`lat_sum` integer NOT NULL,
	`hist` blob,
	`worst_id` integer,
	`worst_kind` text,
	`worst_cause` text
);
--> statement-breakpoint
CREATE TABLE `rollup_hours` (
	`id` integer PRIMARY KEY NOT NULL,
	`count` integer NOT NULL,
	`ok` integer NOT NULL,
	`fail` text,
	`lat_sum` integer NOT NULL,
	`hist` blob
);
--> statement-breakpoint
CREATE TABLE `rollup_targets` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`target` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `rollup_targets_site_target_idx` ON `rollup_targets` (`site_id`,`target`);--> statement-breakpoint
CREATE TABLE `gateway_log_files` (
	`path` text PRIMARY KEY NOT NULL,
	`inode` text,
	`offset` integer NOT NULL,
	`state` text NOT NULL,
	`message` text,
	`since` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `gateway_log_lines` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`at` integer NOT NULL,
	`read_at` integer NOT NULL,
	`product` text NOT NULL,
	`kind` text NOT NULL,
	`relation` text NOT NULL,
	`upstream_id` text,
	`upstream` text,
	`message` text NOT NULL,
	`raw` text NOT NULL,
	`incident_id` integer,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `gateway_log_lines_site_idx` ON `gateway_log_lines` (`site_id`,`at`);--> statement-breakpoint
CREATE INDEX `gateway_log_lines_read_idx` ON `gateway_log_lines` (`read_at`);--> statement-breakpoint
ALTER TABLE `checks` ADD `failed_addresses` text;--> statement-breakpoint
ALTER TABLE `checks` ADD `cert_expires_at` integer;--> statement-breakpoint
ALTER TABLE `checks` ADD `cert_issuer` text;--> statement-breakpoint
ALTER TABLE `sites` ADD `webhooks` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `sites` ADD `gateway_log` text;--> statement-breakpoint
ALTER TABLE `sites` ADD `public` integer DEFAULT true NOT NULL;--> statement-breakpoint
CREATE INDEX `sites_url_idx` ON `sites` (`url`);--> statement-breakpoint
CREATE INDEX `sites_gateway_log_idx` ON `sites` (`id`) WHERE "sites"."gateway_log" IS NOT NULL AND "sites"."gateway_log" <> 'null';--> statement-breakpoint
ALTER TABLE `status_snapshot` ADD `cert_expires_at` integer;--> statement-breakpoint
ALTER TABLE `status_snapshot` ADD `cert_issuer` text;