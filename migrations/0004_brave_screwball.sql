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
CREATE UNIQUE INDEX `rollup_targets_site_target_idx` ON `rollup_targets` (`site_id`,`target`);