CREATE TABLE `alerts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`incident_id` integer NOT NULL,
	`kind` text NOT NULL,
	`recipients` text NOT NULL,
	`payload` text NOT NULL,
	`state` text NOT NULL,
	`created_at` integer NOT NULL,
	`due_at` integer NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`last_attempt_at` integer,
	`sent_at` integer,
	`message_id` text,
	`cancel_reason` text
);
--> statement-breakpoint
CREATE INDEX `alerts_state_due_idx` ON `alerts` (`state`,`due_at`);--> statement-breakpoint
CREATE INDEX `alerts_incident_idx` ON `alerts` (`incident_id`);--> statement-breakpoint
CREATE TABLE `checks` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`target` text NOT NULL,
	`target_name` text NOT NULL,
	`started_at` integer NOT NULL,
	`outcome` text NOT NULL,
	`status_code` integer,
	`error_message` text,
	`addresses` text NOT NULL,
	`address` text,
	`dns_ms` integer,
	`connect_ms` integer,
	`tls_ms` integer,
	`ttfb_ms` integer,
	`total_ms` integer,
	`gateway` text,
	`incident_id` integer,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `checks_site_time_idx` ON `checks` (`site_id`,`started_at`);--> statement-breakpoint
CREATE INDEX `checks_time_idx` ON `checks` (`started_at`);--> statement-breakpoint
CREATE INDEX `checks_incident_idx` ON `checks` (`incident_id`);--> statement-breakpoint
CREATE TABLE `rollups_hour` (
	`site_id` integer NOT NULL,
	`target` text NOT NULL,
	`bucket` integer NOT NULL,
	`count` integer NOT NULL,
	`ok_count` integer NOT NULL,
	`failures` text NOT NULL,
	`latency_sum_ms` integer NOT NULL,
	`latency_hist` text NOT NULL,
	PRIMARY KEY(`site_id`, `target`, `bucket`),
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `rollups_hour_bucket_idx` ON `rollups_hour` (`bucket`);--> statement-breakpoint
CREATE TABLE `rollups_minute` (
	`site_id` integer NOT NULL,
	`target` text NOT NULL,
	`bucket` integer NOT NULL,
	`count` integer NOT NULL,
	`ok_count` integer NOT NULL,
	`failures` text NOT NULL,
	`latency_sum_ms` integer NOT NULL,
	`latency_hist` text NOT NULL,
	PRIMARY KEY(`site_id`, `target`, `bucket`),
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `rollups_minute_bucket_idx` ON `rollups_minute` (`bucket`);--> statement-breakpoint
CREATE TABLE `settings` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `incidents` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`state` text NOT NULL,
	`kind` text NOT NULL,
	`kinds` text NOT NULL,
	`opened_at` integer NOT NULL,
	`first_failure_at` integer NOT NULL,
	`resolved_at` integer,
	`failed_checks` integer NOT NULL,
	`good_streak` integer NOT NULL,
	`causes` text NOT NULL,
	`timeline` text NOT NULL,
	`silenced` integer DEFAULT false NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `incidents_site_state_idx` ON `incidents` (`site_id`,`state`);--> statement-breakpoint
CREATE INDEX `incidents_opened_idx` ON `incidents` (`opened_at`);--> statement-breakpoint
CREATE TABLE `sites` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`url` text NOT NULL,
	`interval_seconds` integer NOT NULL,
	`timeout_ms` integer NOT NULL,
	`failure_threshold` integer NOT NULL,
	`recovery_threshold` integer NOT NULL,
	`expected_status` text NOT NULL,
	`alert_emails` text NOT NULL,
	`maintenance` text NOT NULL,
	`paused` integer NOT NULL,
	`state` text NOT NULL,
	`last_round_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `upstreams` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`site_id` integer NOT NULL,
	`name` text NOT NULL,
	`url` text NOT NULL,
	`position` integer NOT NULL,
	FOREIGN KEY (`site_id`) REFERENCES `sites`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `upstreams_site_idx` ON `upstreams` (`site_id`,`position`);--> statement-breakpoint
CREATE UNIQUE INDEX `upstreams_site_name_uq` ON `upstreams` (`site_id`,`name`);