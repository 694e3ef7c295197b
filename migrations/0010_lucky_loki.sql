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
